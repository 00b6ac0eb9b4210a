import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Events } from "./events.js";

describe("Events", () => {
  it("runs handlers by priority and stops at the first that returns true", async () => {
    const ev = new Events();
    const order: string[] = [];
    ev.on("server/started", () => void order.push("low"), -10);
    ev.on("server/started", () => {
      order.push("high");
      return false;
    }, 10);
    ev.on("server/started", async () => {
      order.push("mid");
      return true;
    }, 0);
    assert.equal(await ev.emit("server/started", {}), true);
    assert.deepEqual(order, ["high", "mid"]);
  });

  it("refuses unknown event names and removes a handler with the returned function", async () => {
    const ev = new Events();
    assert.throws(() => ev.on("no/such" as "server/started", () => {}), /unknown event/);
    let n = 0;
    const off = ev.on("server/stopping", () => void n++);
    await ev.emit("server/stopping", {});
    off();
    await ev.emit("server/stopping", {});
    assert.equal(n, 1);
    assert.equal(ev.has("server/stopping"), false);
  });

  it("emitSync refuses asynchronous handlers", () => {
    const ev = new Events();
    ev.on("server/started", async () => true);
    assert.throws(() => ev.emitSync("server/started", {}), /synchronous/);
  });
});
