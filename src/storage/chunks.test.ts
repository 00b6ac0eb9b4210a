import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PageCollector, chunkWindow, entriesOf, idTimes, mergePages, valueText } from "./chunks.js";
import { newArchiveId } from "./shared.js";

describe("archive chunks", () => {
  it("reads a head into entries: seqs from seq0, values' places in the body", () => {
    const body = "=one" + "=twö😀" + "=3";
    const c = { cid: 9, seq0: 100, head: JSON.stringify(["a", 5, "x@y", 4, "b", 3, "", 6, "c", 7, "z@y", 2]) };
    const e = entriesOf(c);
    assert.deepEqual(e.map((x) => [x.id, x.when, x.with, x.seq, x.cid]), [["a", 5, "x@y", 100, 9], ["b", 3, "", 101, 9], ["c", 7, "z@y", 102, 9]]);
    assert.deepEqual(e.map((x) => valueText(body, x)), ["=one", "=twö😀", "=3"]);
  });

  it("narrows the chunks a query reads to its times and anchors, and knows when ids rule chunks out", () => {
    const q = { start: undefined, end: undefined, ids: undefined };
    assert.deepEqual(chunkWindow(q), { lo: undefined, hi: undefined });
    assert.deepEqual(chunkWindow({ ...q, start: 10, end: 50 }, { when: 20, seq: 1 }, { when: 40, seq: 9 }), { lo: 20, hi: 40 });
    // ids are looked up by their times one by one; the window only says when none can be in chunks
    assert.deepEqual(chunkWindow({ ...q, ids: [newArchiveId(30), "given", newArchiveId(35)] }), { lo: undefined, hi: undefined });
    assert.equal(chunkWindow({ ...q, ids: ["given"] }), null, "given ids are never in chunks");
    assert.equal(chunkWindow({ ...q, start: 40, ids: [newArchiveId(30), newArchiveId(35)] }), null);
    assert.deepEqual(idTimes([newArchiveId(30), "given", newArchiveId(30), newArchiveId(5)]), [30, 5]);
    assert.equal(chunkWindow({ ...q, start: 50, end: 10 }), null);
  });

  it("settles a page only when no later chunk can hold an item that comes before its last", () => {
    const at = (when: number, seq: number) => ({ id: `${when}.${seq}`, with: "", when, seq, cid: 0, off: 0, len: 0 });
    const fwd = new PageCollector(2, false);
    for (const e of [at(5, 3), at(1, 1), at(3, 2)]) fwd.add(e);
    assert.equal(fwd.settledBefore(3, 9), false, "a chunk from time 3 may hold (3, seq < 2)");
    assert.equal(fwd.settledBefore(4, 9), true);
    assert.deepEqual(fwd.result().map((e) => e.id), ["1.1", "3.2"]);
    const back = new PageCollector(2, true);
    for (const e of [at(5, 3), at(1, 1), at(3, 2)]) back.add(e);
    assert.equal(back.settledBefore(0, 3), false);
    assert.equal(back.settledBefore(0, 2), true);
    assert.deepEqual(back.result().map((e) => e.id), ["5.3", "3.2"]);
    assert.equal(new PageCollector(0, false).settledBefore(0, 0), true);
    assert.equal(new PageCollector(undefined, false).settledBefore(0, 0), false, "no limit: every chunk is read");
  });

  it("merges two lists in paging order", () => {
    const p = (when: number, seq: number) => ({ when, seq });
    assert.deepEqual(mergePages([p(1, 1), p(2, 5)], [p(2, 3), p(4, 4)], false, 3), [p(1, 1), p(2, 3), p(2, 5)]);
    assert.deepEqual(mergePages([p(2, 5), p(1, 1)], [p(4, 4), p(2, 3)], true, undefined), [p(4, 4), p(2, 5), p(2, 3), p(1, 1)]);
  });
});
