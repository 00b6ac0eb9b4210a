// The archive append log (SQLite backend only): archive appends go to an unindexed table in a
// database file of its own, which costs a fraction of an insert into the indexed archive table;
// a worker thread moves them into the archive in large batches, off the event loop. Readers of the
// archive first wait until everything appended before them has been moved ("settle"), so every
// query sees every acknowledged append. See docs/architecture.md, "Storage".
import { closeSync, openSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import Database from "better-sqlite3";

const require = createRequire(import.meta.url);

/** One archive row as the log holds it (the archive table's columns but `seq`). */
export interface LogRow {
  store: string;
  owner: string;
  id: string;
  when: number;
  with: string;
  value: string;
}

/** Rows moved per worker transaction: large enough to amortise index pages, small enough to keep main-database locks short. */
export const COMPACT_CHUNK = 5000;

/** How often the worker looks for rows to move when nobody asks. */
const COMPACT_INTERVAL_MS = 200;

const LOG_SCHEMA = `create table if not exists log (
  jseq integer primary key autoincrement,
  store text not null, owner text not null, id text not null,
  "when" integer not null, "with" text not null, value text not null)`;

// Moves rows up to a bound into the archive table (ids are unique per owner; a row already there
// was moved before a crash between the two commits, so it is skipped), then drops them from the log.
// Plain JavaScript shared by the worker and the fallback on the main thread.
const COMPACT_SOURCE = `
function compactor(db, chunk) {
  const lastSeq = db.prepare("select seq from lg.sqlite_sequence where name = 'log'").pluck();
  const range = db.prepare("select min(jseq) as lo, max(jseq) as hi from lg.log where jseq > ?");
  const move = db.prepare('insert or ignore into main.archive (store, owner, id, "when", "with", value) select store, owner, id, "when", "with", value from lg.log where jseq > ? and jseq <= ? order by jseq');
  const moveTx = db.transaction((after, bound) => move.run(after, bound));
  return function step(after) {
    // The highest jseq ever given out, read before the log: if the log then has nothing after
    // 'after', every row up to it has been moved (sqlite_sequence is written with the row).
    const seq = lastSeq.get() ?? 0;
    const r = range.get(after);
    if (r.lo === null) return { movedUpTo: Math.max(seq, after), more: false };
    const bound = Math.min(r.hi, r.lo + chunk - 1);
    moveTx(after, bound);
    return { movedUpTo: bound, more: true };
  };
}
`;

// The worker is plain JavaScript so it runs the same from src/ (tsx) and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
${COMPACT_SOURCE}
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
// PRIVACY: per connection; without it, cells moved by page balancing leave copies in free space
db.pragma("secure_delete = ON");
db.prepare("attach database ? as lg").run(workerData.logPath);
let moved = 0;
const step = compactor(db, workerData.chunk);
function run() {
  try {
    let r;
    do {
      r = step(moved);
      if (r.movedUpTo > moved) { moved = r.movedUpTo; parentPort.postMessage({ moved }); }
    } while (r.more);
    db.pragma("lg.wal_checkpoint(PASSIVE)");
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
}
const timer = setInterval(run, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m === "compact") run();
  else if (m === "stop") { clearInterval(timer); run(); db.close(); parentPort.postMessage("stopped"); }
});
`;

const compactor = new Function(`${COMPACT_SOURCE}; return compactor;`)() as (
  db: Database.Database,
  chunk: number,
) => (after: number) => { movedUpTo: number; more: boolean };

/** The log of one SQLite database: appends on the main thread, compaction in a worker. */
export interface ArchiveLog {
  /** Writes rows in one transaction (synchronous; durable against a process crash on return). */
  append(rows: LogRow[]): void;
  /** Resolves once every row appended before the call is in the archive table. */
  settle(): Promise<void>;
  /** Moves the remaining rows, stops the worker, closes the log. */
  close(): Promise<void>;
}

/** The log file that belongs to a database file. */
export function logPathFor(dbPath: string): string {
  return `${dbPath}-archive-log`;
}

/**
 * Opens the log beside `dbPath` (creating it 0600) and starts its worker. The main database must
 * already have its archive table. `onError` reports worker failures; compaction then continues on
 * the main thread.
 */
export function openArchiveLog(dbPath: string, onError: (message: string) => void): ArchiveLog {
  const logPath = logPathFor(dbPath);
  // PRIVACY: the log holds messages, like the database (SQLite gives -wal/-shm the same mode)
  closeSync(openSync(logPath, "a", 0o600));
  const log = new Database(logPath);
  log.pragma("journal_mode = WAL");
  log.pragma("synchronous = NORMAL");
  log.pragma("wal_autocheckpoint = 0"); // the worker checkpoints
  log.pragma("busy_timeout = 5000");
  // PRIVACY: deleted rows and freed pages are overwritten with zeros
  log.pragma("secure_delete = ON");
  log.exec(LOG_SCHEMA);
  const insert = log.prepare('insert into log (store, owner, id, "when", "with", value) values (?, ?, ?, ?, ?, ?)');
  /** The highest jseq written by this process (or found at start). */
  let appended = Number((log.prepare("select max(jseq) as hi from log").get() as { hi: number | null }).hi ?? 0);
  /** Every jseq up to this one is in the archive table. */
  let moved = 0;
  // Rows the worker has moved are deleted here, in the appends' own transaction: the worker never
  // writes the log, so appends never wait for its lock (SQLite's busy waits sleep in steps of ms).
  const deleteMoved = log.prepare("delete from log where jseq <= ?");
  let deleted = 0;
  const insertAll = log.transaction((rows: LogRow[]) => {
    dropMoved();
    let last = 0;
    for (const r of rows) last = Number(insert.run(r.store, r.owner, r.id, r.when, r.with, r.value).lastInsertRowid);
    return last;
  });
  let waiters: { upTo: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  let fallback: Database.Database | undefined;
  let fallbackStep: ((after: number) => { movedUpTo: number; more: boolean }) | undefined;

  /** Drops moved rows now: readers settle before purges and dumps, so the log never outlives a deletion. */
  const dropMoved = () => {
    if (moved > deleted) {
      deleteMoved.run(moved);
      deleted = moved;
    }
  };
  const release = () => {
    if (waiters.some((w) => w.upTo <= moved)) dropMoved();
    const still: typeof waiters = [];
    for (const w of waiters) (w.upTo <= moved ? w.resolve : () => still.push(w))();
    waiters = still;
    // An unreferenced worker would let the process exit while someone waits for it
    if (waiters.length === 0) worker?.unref();
  };
  /** Compaction on the main thread, when the worker is gone. */
  const compactHere = () => {
    if (!fallback) {
      fallback = new Database(dbPath);
      fallback.pragma("busy_timeout = 5000");
      fallback.pragma("secure_delete = ON");
      fallback.prepare("attach database ? as lg").run(logPath);
      fallbackStep = compactor(fallback, COMPACT_CHUNK);
    }
    let r: { movedUpTo: number; more: boolean };
    do {
      r = fallbackStep!(moved);
      moved = Math.max(moved, r.movedUpTo);
    } while (r.more);
    release();
  };

  let worker: Worker | undefined = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path: dbPath, logPath, chunk: COMPACT_CHUNK, intervalMs: COMPACT_INTERVAL_MS, driver: require.resolve("better-sqlite3") },
  });
  const workerFailed = (message: string) => {
    onError(message);
    const w = worker;
    worker = undefined;
    void w?.terminate();
    try {
      compactHere();
    } catch (err) {
      for (const w of waiters) w.reject(err as Error);
      waiters = [];
    }
  };
  worker.on("message", (m: unknown) => {
    if (m && typeof m === "object") {
      if ("moved" in m) {
        moved = Math.max(moved, Number((m as { moved: number }).moved));
        release();
      } else if ("error" in m) workerFailed(String((m as { error: unknown }).error));
    }
  });
  worker.on("error", (err) => workerFailed(err.message));
  worker.unref();

  let closed: Promise<void> | undefined;
  return {
    append(rows) {
      if (rows.length === 0) return;
      appended = insertAll(rows);
    },
    settle() {
      const upTo = appended;
      if (upTo <= moved) {
        dropMoved();
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        waiters.push({ upTo, resolve, reject });
        if (worker) {
          worker.ref();
          worker.postMessage("compact");
        }
        else {
          try {
            compactHere();
          } catch (err) {
            reject(err as Error);
          }
        }
      });
    },
    close() {
      closed ??= (async () => {
        const w = worker;
        worker = undefined;
        if (w) {
          w.ref();
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate().then(() => resolve()), 10_000);
            w.on("message", (m) => {
              if (m === "stopped") {
                clearTimeout(t);
                void w.terminate().then(() => resolve());
              }
            });
            w.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            w.postMessage("stop");
          });
        }
        // Whatever the worker could not move is moved here, so a closed database is complete.
        compactHere();
        fallback?.close();
        dropMoved();
        log.pragma("wal_checkpoint(TRUNCATE)");
        log.close();
      })();
      return closed;
    },
  };
}
