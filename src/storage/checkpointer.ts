// WAL checkpoints off the event loop: SQLite's automatic checkpoint runs inside the committing
// call and fsyncs the database file, which stalled the whole server for milliseconds at a time
// under an archive-heavy load. A worker thread with its own connection checkpoints instead
// (PASSIVE: it never blocks writers; https://www.sqlite.org/wal.html#ckpt).
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// The worker is plain JavaScript so it runs the same from src/ (tsx) and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
let timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
}, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m === "stop") { clearInterval(timer); db.close(); parentPort.postMessage("stopped"); }
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing `path` every `intervalMs` from a worker thread. */
export function startCheckpointer(path: string, intervalMs: number, onError: (message: string) => void): Checkpointer {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, intervalMs, driver: require.resolve("better-sqlite3") },
  });
  worker.on("message", (m: unknown) => {
    if (m && typeof m === "object" && "error" in m) onError(String((m as { error: unknown }).error));
  });
  worker.on("error", (err) => onError(err.message));
  worker.unref();
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        const done = () => {
          void worker.terminate().then(() => resolve());
        };
        const t = setTimeout(done, 2000);
        worker.once("message", (m) => {
          if (m === "stopped") {
            clearTimeout(t);
            done();
          }
        });
        worker.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        worker.postMessage("stop");
      });
      return stopped;
    },
  };
}
