// The Node side of the mixed-fleet tests: a real graphile-worker 0.18 (from npm) worker and
// WorkerUtils client against a database where only `CREATE EXTENSION graphile_worker` ran.
//
//   node node_side.mjs worker   env: DATABASE_URL, GW_NODE_MODULES, CONCURRENCY, CRONTAB (text),
//                               LOCAL_QUEUE (size; -1 = off), POLL_INTERVAL_MS, RUNNER_NAME
//   node node_side.mjs add-jobs env: DATABASE_URL, GW_NODE_MODULES; stdin: JSON list of specs
//
// Worker tasks record every execution in table public.executions (created by the test), with
// the job fields as this worker saw them (info) and the job's last_error read through SQL
// before the task ran (prev_error); env RUNNER_NAME names the worker (default "node"):
//   record      insert a row and return (record_node: the same, a task only Node knows)
//   serial      insert a row, wait payload.ms milliseconds, update finished_at
//   gate        insert a row, wait until the test releases advisory lock payload.lock, update
//               finished_at
//   fail        insert a row and throw "node failed <attempt>"
import { EventEmitter } from "node:events";
import { pathToFileURL } from "node:url";

const gw = await import(pathToFileURL(`${process.env.GW_NODE_MODULES}/graphile-worker/dist/index.js`).href);
const connectionString = process.env.DATABASE_URL;
const mode = process.argv[2];

const runnerName = process.env.RUNNER_NAME ?? "node";

async function record(helpers, payload) {
  const job = helpers.job;
  const info = {
    queue_name: job.job_queue_id == null ? null : await helpers.getQueueName(),
    key: job.key ?? null,
    priority: job.priority,
    max_attempts: job.max_attempts,
    flags: job.flags ? Object.keys(job.flags).sort() : null,
    run_at: new Date(job.run_at).toISOString(),
  };
  await helpers.withPgClient((client) =>
    client.query(
      `insert into public.executions (job_id, task, runner, attempt, payload, info, prev_error, started_at)
       values ($1, $2, $3, $4, $5, $6, (select last_error from graphile_worker.jobs where id = $1), clock_timestamp())`,
      [job.id, job.task_identifier, runnerName, job.attempts, JSON.stringify(payload ?? null), JSON.stringify(info)],
    ),
  );
}

const taskList = {
  record: async (payload, helpers) => {
    await record(helpers, payload);
  },
  record_node: async (payload, helpers) => {
    await record(helpers, payload);
  },
  serial: async (payload, helpers) => {
    await record(helpers, payload);
    await new Promise((resolve) => setTimeout(resolve, payload?.ms ?? 5));
    await helpers.withPgClient((client) =>
      client.query(
        `update public.executions set finished_at = clock_timestamp()
         where job_id = $1 and runner = $2 and finished_at is null`,
        [helpers.job.id, runnerName],
      ),
    );
  },
  gate: async (payload, helpers) => {
    await record(helpers, payload);
    await helpers.withPgClient(async (client) => {
      await client.query("select pg_advisory_lock($1)", [payload.lock]);
      await client.query("select pg_advisory_unlock($1)", [payload.lock]);
    });
    await helpers.withPgClient((client) =>
      client.query(
        `update public.executions set finished_at = clock_timestamp()
         where job_id = $1 and runner = $2 and finished_at is null`,
        [helpers.job.id, runnerName],
      ),
    );
  },
  fail: async (payload, helpers) => {
    await record(helpers, payload);
    throw new Error(`node failed ${helpers.job.attempts}`);
  },
};

if (mode === "worker") {
  // Cron activity, one line per event, for the tests to read in the log.
  const events = new EventEmitter();
  events.on("cron:backfill", ({ timestamp }) => console.log(`CRON backfill ${timestamp}`));
  events.on("cron:scheduled", ({ timestamp }) =>
    console.log(`CRON scheduled ${new Date(timestamp).toISOString()}`),
  );
  const runner = await gw.run({
    events,
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
      const batch = JSON.parse(process.env.ADD_JOBS_BATCH).map((s) =>
        s.runAt ? { ...s, runAt: new Date(s.runAt) } : s,
      );
      const jobs = await utils.addJobs(batch);
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
