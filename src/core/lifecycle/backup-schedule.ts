// Scheduled backups: the running server makes one every backup.intervalHours, counted from the
// newest backup in the directory (so restarts neither skip nor repeat one), then rotates.
import type { Config } from "../../config/schema.js";
import type { StorageBackend } from "../../storage/types.js";
import type { Logger } from "../log.js";
import { createBackup, fileTrees, listBackups, rotateBackups } from "./backup.js";

/** Timer functions, injectable so tests move a clock instead of sleeping. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** setTimeout cannot wait longer than this (about 24.8 days); longer waits are re-armed. */
const MAX_DELAY = 2 ** 31 - 1;

export interface SchedulerOptions {
  intervalMs: number;
  /** Time of the newest existing backup, if any. */
  last(): Promise<number | undefined>;
  /** Makes one backup (and rotates). */
  run(): Promise<void>;
  now?: () => number;
  timers?: Timers;
  onError?: (err: unknown) => void;
}

export interface Scheduler {
  /** When the next run is due (ms since the epoch); undefined once stopped. */
  readonly nextAt: number | undefined;
  /** Cancels the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/** Starts the schedule: the first run is due one interval after the newest backup (now if overdue). */
export async function startScheduler(o: SchedulerOptions): Promise<Scheduler> {
  const now = o.now ?? Date.now;
  const timers = o.timers ?? realTimers;
  let handle: unknown;
  let nextAt: number | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const arm = (at: number): void => {
    if (stopped) return;
    nextAt = at;
    handle = timers.set(fire, Math.min(MAX_DELAY, Math.max(0, at - now())));
  };
  function fire(): void {
    handle = undefined;
    if (stopped || nextAt === undefined) return;
    if (now() < nextAt) return arm(nextAt); // woke early (clamped delay)
    running = o
      .run()
      .catch((err: unknown) => o.onError?.(err))
      .finally(() => {
        running = undefined;
        arm(now() + o.intervalMs);
      });
  }

  const last = await o.last();
  arm(last === undefined ? now() : Math.max(now(), last + o.intervalMs));
  return {
    get nextAt() {
      return stopped ? undefined : nextAt;
    },
    async stop() {
      stopped = true;
      if (handle !== undefined) timers.clear(handle);
      handle = undefined;
      await running;
    },
  };
}

/**
 * The server's backup schedule from its configuration, or undefined when backups are off (no
 * recipients, or intervalHours 0). Stopping aborts a backup in progress (its partial file is removed).
 */
export async function startBackupSchedule(
  config: Config,
  storage: StorageBackend,
  declaredTrees: Iterable<readonly string[] | undefined>,
  log: Logger,
  opts: { now?: () => number; timers?: Timers } = {},
): Promise<Scheduler | undefined> {
  const b = config.backup;
  if (b.recipients.length === 0 || b.intervalHours === 0) return undefined;
  const trees = fileTrees(declaredTrees);
  const abort = new AbortController();
  const scheduler = await startScheduler({
    intervalMs: b.intervalHours * 3_600_000,
    now: opts.now,
    timers: opts.timers,
    async last() {
      return (await listBackups(b.dir)).at(-1)?.time;
    },
    async run() {
      const result = await createBackup({
        storage,
        dataDir: config.dataDir,
        trees,
        recipients: b.recipients,
        dir: b.dir,
        hosts: config.hosts,
        now: opts.now,
        signal: abort.signal,
      });
      const removed = await rotateBackups(b.dir, b.keep);
      log.info({ path: result.path, rows: result.manifest.rows, files: result.manifest.files, bytes: result.bytes, rotatedOut: removed.length }, "backup written");
    },
    onError(err) {
      if (abort.signal.aborted) return;
      log.error({ err: err instanceof Error ? err.message : String(err) }, "backup failed");
    },
  });
  return {
    get nextAt() {
      return scheduler.nextAt;
    },
    async stop() {
      abort.abort();
      await scheduler.stop();
    },
  };
}
