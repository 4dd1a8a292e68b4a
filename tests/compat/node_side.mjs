// The Node side of the mixed-fleet tests: a real graphile-worker 0.18 (from npm) worker and
// WorkerUtils client against a database where only `CREATE EXTENSION graphile_worker` ran.
//
//   node node_side.mjs worker   env: DATABASE_URL, GW_NODE_MODULES, CONCURRENCY, CRONTAB (text)
//   node node_side.mjs add-jobs env: DATABASE_URL, GW_NODE_MODULES; stdin: JSON list of specs
//
// Worker tasks record every execution in table public.executions (created by the test):
//   record      insert a row and return
//   serial      insert a row, wait payload.ms milliseconds, update finished_at
//   fail        insert a row and throw "node failed <attempt>"
import { pathToFileURL } from "node:url";

const gw = await import(pathToFileURL(`${process.env.GW_NODE_MODULES}/graphile-worker/dist/index.js`).href);
const connectionString = process.env.DATABASE_URL;
const mode = process.argv[2];

async function record(helpers, payload, extra = "") {
  await helpers.withPgClient((client) =>
    client.query(
      `insert into public.executions (job_id, task, runner, attempt, payload, started_at)
       values ($1, $2, 'node', $3, $4, clock_timestamp())`,
      [helpers.job.id, helpers.job.task_identifier, helpers.job.attempts, JSON.stringify(payload ?? null)],
    ),
  );
}

const taskList = {
  record: async (payload, helpers) => {
    await record(helpers, payload);
  },
  serial: async (payload, helpers) => {
    await record(helpers, payload);
    await new Promise((resolve) => setTimeout(resolve, payload?.ms ?? 5));
    await helpers.withPgClient((client) =>
      client.query(
        `update public.executions set finished_at = clock_timestamp()
         where job_id = $1 and runner = 'node' and finished_at is null`,
        [helpers.job.id],
      ),
    );
  },
  fail: async (payload, helpers) => {
    await record(helpers, payload);
    throw new Error(`node failed ${helpers.job.attempts}`);
  },
};

if (mode === "worker") {
  const runner = await gw.run({
    connectionString,
    concurrency: Number(process.env.CONCURRENCY ?? "4"),
    pollInterval: Number(process.env.POLL_INTERVAL_MS ?? "200"),
    taskList,
    crontab: process.env.CRONTAB ?? "",
    noHandleSignals: false,
    preset: {
      worker: {
        localQueue: { size: Number(process.env.LOCAL_QUEUE ?? "-1") },
      },
    },
  });
  console.log("READY");
  await runner.promise;
} else if (mode === "add-jobs") {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const specs = JSON.parse(input);
  const utils = await gw.makeWorkerUtils({ connectionString });
  try {
    const out = [];
    for (const s of specs) {
      const spec = { ...(s.spec ?? {}) };
      if (spec.runAt) spec.runAt = new Date(spec.runAt);
      const job = await utils.addJob(s.identifier, s.payload ?? {}, spec);
      out.push({ id: String(job.id), key: job.key, queue_name: job.queue_name ?? null });
    }
    if (process.env.ADD_JOBS_BATCH) {
      const jobs = await utils.addJobs(JSON.parse(process.env.ADD_JOBS_BATCH));
      for (const job of jobs) out.push({ id: String(job.id), key: job.key, queue_name: job.queue_name ?? null });
    }
    console.log(JSON.stringify(out));
  } finally {
    await utils.release();
  }
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
