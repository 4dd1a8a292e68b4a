// graphile-worker (Node) with one no-op task, `noop`, for the long-transaction scenario of
// bench/long_txn.py (`--systems node`): the same batched settings as the side-by-side harness
// (a local queue of 500, completions batched). Runs until SIGTERM; prints READY once started.
//   GW_NODE_DIR=/tmp/benchdeps/node node bench/node_worker.mjs <dsn> <concurrency>
import path from "node:path";
import { pathToFileURL } from "node:url";

const [dsn, concurrency = "10"] = process.argv.slice(2);
const nodeDir = process.env.GW_NODE_DIR || "/tmp/benchdeps/node";
const entry = path.join(nodeDir, "node_modules/graphile-worker/dist/index.js");
const { run, Logger } = await import(pathToFileURL(entry).href);

const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") process.stderr.write(`[${level}] ${message}\n`);
});
const runner = await run({
  taskList: { noop: async () => {} },
  logger,
  noHandleSignals: true,
  preset: {
    worker: {
      connectionString: dsn,
      concurrentJobs: Number(concurrency),
      pollInterval: 2000,
      maxPoolSize: 10,
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
    },
  },
});
const stop = async () => {
  await runner.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdout.write("READY\n");
await runner.promise;
