import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Throttle, isLoopback } from "./throttle.js";

describe("Throttle", () => {
  it("allows max events in the window, then refuses until they age out", () => {
    let now = 1_000_000;
    const t = new Throttle({ max: 2, windowSeconds: 60, exemptLoopback: false, now: () => now });
    assert.equal(t.allowed("10.0.0.1"), true);
    t.failed("10.0.0.1");
    t.failed("10.0.0.1");
    assert.equal(t.allowed("10.0.0.1"), false);
    assert.equal(t.allowed("10.0.0.2"), true);
    now += 61_000;
    assert.equal(t.allowed("10.0.0.1"), true);
  });

  it("exempts loopback addresses when configured", () => {
    const t = new Throttle({ max: 1, windowSeconds: 60, exemptLoopback: true });
    for (const a of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
      t.failed(a);
      t.failed(a);
      assert.equal(t.allowed(a), true, a);
    }
    assert.equal(isLoopback("128.0.0.1"), false);
  });
});
