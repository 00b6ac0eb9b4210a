import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { tzo } from "./time.module.js";

describe("time", () => {
  it("formats XEP-0082 offsets", () => {
    assert.equal(tzo(0), "Z");
    assert.equal(tzo(60), "+01:00");
    assert.equal(tzo(-330), "-05:30");
    assert.equal(tzo(345), "+05:45");
  });
});
