import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { startScheduler, type Timers } from "./backup-schedule.js";

/** A fake clock with timers that fire only when the test moves time. */
function fakeTime(start: number) {
  let now = start;
  const pending = new Map<number, { at: number; fn: () => void }>();
  let ids = 0;
  const timers: Timers = {
    set(fn, ms) {
      pending.set(++ids, { at: now + ms, fn });
      return ids;
    },
    clear: (h) => void pending.delete(h as number),
  };
  return {
    timers,
    now: () => now,
    pending: () => pending.size,
    /** Moves the clock, firing due timers in order, and lets the runs they start settle. */
    async advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...pending.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
        for (let i = 0; i < 10; i++) await Promise.resolve();
        await new Promise<void>((r) => setImmediate(r));
      }
      now = until;
    },
  };
}

const H = 3_600_000;

describe("backup scheduler", () => {
  it("runs at once when there is no backup, then every interval", async () => {
    const t = fakeTime(Date.UTC(2026, 0, 1));
    const runs: number[] = [];
    const s = await startScheduler({ intervalMs: 24 * H, last: async () => undefined, run: async () => void runs.push(t.now()), now: t.now, timers: t.timers });
    await t.advance(0);
    assert.deepEqual(runs, [Date.UTC(2026, 0, 1)]);
    await t.advance(23 * H);
    assert.equal(runs.length, 1);
    await t.advance(3 * 24 * H);
    assert.deepEqual(runs.slice(1), [1, 2, 3].map((d) => Date.UTC(2026, 0, 1) + d * 24 * H));
    await s.stop();
    assert.equal(t.pending(), 0);
    await t.advance(48 * H);
    assert.equal(runs.length, 4);
  });

  it("counts from the newest existing backup, so a restart neither repeats nor skips one", async () => {
    const t = fakeTime(Date.UTC(2026, 0, 1, 10));
    const runs: number[] = [];
    const s = await startScheduler({ intervalMs: 24 * H, last: async () => Date.UTC(2026, 0, 1, 4), run: async () => void runs.push(t.now()), now: t.now, timers: t.timers });
    assert.equal(s.nextAt, Date.UTC(2026, 0, 2, 4));
    await t.advance(17 * H);
    assert.deepEqual(runs, []);
    await t.advance(1 * H);
    assert.deepEqual(runs, [Date.UTC(2026, 0, 2, 4)]);
    await s.stop();
  });

  it("keeps going after a failed run and re-arms long waits", async () => {
    const t = fakeTime(0);
    const errors: unknown[] = [];
    let n = 0;
    const interval = 40 * 24 * H; // longer than one setTimeout can wait
    const s = await startScheduler({
      intervalMs: interval,
      last: async () => 0,
      run: async () => {
        if (++n === 1) throw new Error("disk full");
      },
      onError: (e) => errors.push(e),
      now: t.now,
      timers: t.timers,
    });
    await t.advance(interval - 1);
    assert.equal(n, 0);
    await t.advance(1);
    assert.equal(n, 1);
    assert.equal(errors.length, 1);
    await t.advance(interval);
    assert.equal(n, 2);
    await s.stop();
  });

  it("stop waits for a run in progress", async () => {
    const t = fakeTime(0);
    let release!: () => void;
    let finished = false;
    const s = await startScheduler({
      intervalMs: H,
      last: async () => undefined,
      run: () => new Promise<void>((r) => (release = r)).then(() => void (finished = true)),
      now: t.now,
      timers: t.timers,
    });
    await t.advance(0);
    const stopping = s.stop();
    release();
    await stopping;
    assert.ok(finished);
    assert.equal(t.pending(), 0);
  });
});
