import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OutputBatch, type Flushable } from "./output-batch.js";

const turn = () => new Promise<void>((r) => setImmediate(r));

/** A target as a session uses the batch: it joins when it had nothing queued. */
class Target implements Flushable {
  queuedItems: string[] = [];
  written: string[] = [];
  private waiting = false;
  constructor(private readonly batch: OutputBatch) {}
  write(s: string): void {
    this.queuedItems.push(s);
    const first = !this.waiting;
    this.waiting = true;
    this.batch.queued(this, s.length, first);
  }
  flush(): void {
    this.waiting = false;
    if (this.queuedItems.length > 0) this.written.push(this.queuedItems.splice(0).join(""));
  }
}

describe("OutputBatch", () => {
  it("writes each target's output once, together, at the end of the turn", async () => {
    const batch = new OutputBatch(1000);
    const a = new Target(batch);
    const b = new Target(batch);
    a.write("<a1/>");
    b.write("<b1/>");
    a.write("<a2/>");
    assert.deepEqual([a.written, b.written], [[], []]);
    await turn();
    assert.deepEqual([a.written, b.written], [["<a1/><a2/>"], ["<b1/>"]]);
  });

  it("writes at once when a turn has queued the limit, and loses nothing queued afterwards", async () => {
    const batch = new OutputBatch(10);
    const a = new Target(batch);
    const b = new Target(batch);
    a.write("12345");
    b.write("67890"); // the limit: both written now
    assert.deepEqual([a.written, b.written], [["12345"], ["67890"]]);
    a.write("abc"); // a joins the next batch
    a.write("defghij"); // and reaches the limit again
    assert.deepEqual(a.written, ["12345", "abcdefghij"]);
    b.write("late");
    await turn();
    assert.deepEqual([a.written, b.written], [["12345", "abcdefghij"], ["67890", "late"]]);
    await turn();
    assert.equal(a.queuedItems.length + b.queuedItems.length, 0);
  });

  it("writes every other target when one fails, then reports the failure", () => {
    const batch = new OutputBatch(10);
    const a = new Target(batch);
    const c = new Target(batch);
    const failing: Flushable = {
      flush: () => {
        throw new Error("broken transport");
      },
    };
    a.write("12");
    batch.queued(failing, 1, true);
    assert.throws(() => c.write("3456789"), /broken transport/);
    assert.deepEqual([a.written, c.written], [["12"], ["3456789"]]);
  });

  it("takes output queued while it flushes into a next batch", async () => {
    const batch = new OutputBatch(1000);
    const b = new Target(batch);
    const a: Flushable = { flush: () => b.write("<from-a/>") };
    batch.queued(a, 1, true);
    await turn();
    assert.deepEqual(b.written, []);
    await turn();
    assert.deepEqual(b.written, ["<from-a/>"]);
  });
});
