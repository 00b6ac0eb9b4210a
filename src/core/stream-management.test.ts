import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StreamManagement, parseH } from "./stream-management.js";
import { x } from "../xml/element.js";

describe("StreamManagement", () => {
  it("drops acknowledged stanzas and refuses an h beyond what was sent", () => {
    const sm = new StreamManagement(true);
    assert.ok(sm.id && sm.id.length >= 20);
    for (let i = 0; i < 5; i++) sm.sent(x("message", { id: String(i) }));
    assert.equal(sm.acknowledge(2), true);
    assert.deepEqual(sm.queue.map((e) => e.attrs.id), ["2", "3", "4"]);
    assert.equal(sm.acknowledge(2), true, "a repeated ack changes nothing");
    assert.equal(sm.queue.length, 3);
    assert.equal(sm.acknowledge(6), false);
    assert.equal(sm.acknowledge(5), true);
    assert.equal(sm.queue.length, 0);
  });

  it("wraps counters at 2^32 (XEP-0198 §5)", () => {
    const sm = new StreamManagement(false);
    assert.equal(sm.id, undefined);
    sm.sentOut = 2 ** 32 - 1;
    sm.sent(x("message", { id: "a" }));
    sm.sent(x("message", { id: "b" }));
    assert.equal(sm.sentOut, 1);
    assert.equal(sm.acknowledge(0), true);
    assert.deepEqual(sm.queue.map((e) => e.attrs.id), ["b"]);
    sm.handledIn = 2 ** 32 - 1;
    sm.handled();
    assert.equal(sm.handledIn, 0);
  });

  it("parses h strictly", () => {
    assert.equal(parseH("0"), 0);
    assert.equal(parseH("4294967295"), 4294967295);
    assert.equal(parseH("4294967296"), undefined);
    assert.equal(parseH("-1"), undefined);
    assert.equal(parseH("1e3"), undefined);
    assert.equal(parseH(undefined), undefined);
  });
});
