// Tests for the logger's redaction policy and level filtering.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger } from "./log.js";

function capture(level: "info" | "debug") {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { log: createLogger({ level }, dest), lines };
}

test("passwords, bodies and tokens are redacted, also in children", () => {
  const { log, lines } = capture("info");
  log.child({ module: "register" }).info(
    { password: "hunter2", account: { password: "p", user: "juliet" }, message: { body: "wherefore" }, token: "t" },
    "hello",
  );
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.equal(line.module, "register");
  assert.equal(line.password, "[redacted]");
  assert.deepEqual(line.account, { password: "[redacted]", user: "juliet" });
  assert.deepEqual(line.message, { body: "[redacted]" });
  assert.equal(line.token, "[redacted]");
  assert.ok(!JSON.stringify(line).includes("hunter2"));
});

test("levels below the configured one are dropped", () => {
  const { log, lines } = capture("info");
  log.debug("hidden");
  log.warn("shown");
  assert.deepEqual(lines.map((l) => l.msg), ["shown"]);
});
