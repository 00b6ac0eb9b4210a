// Tests for the PLAIN server: success, failures, TLS requirement, authzid policy.
// RFC 4616, RFC 6120 §6.5.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deriveCredentials } from "./credentials.js";
import { createPlain } from "./plain.js";
import type { SaslContext, SaslStep, ScramCredentials } from "./types.js";

const msg = (authzid: string, authcid: string, password: string) => Buffer.from(`${authzid}\0${authcid}\0${password}`, "utf8");

function makeCtx(users: Record<string, ScramCredentials>, over: Partial<SaslContext & { tlsActive: boolean }> = {}) {
  const lookups: string[] = [];
  const ctx: SaslContext & { tlsActive: boolean } = {
    getCredentials: async (u) => (lookups.push(u), users[u]),
    normalizeUsername: (u) => (u.length === 0 || /[@/\s]/.test(u) ? undefined : u.toLowerCase()),
    plusOffered: false,
    fakeSaltSecret: Buffer.from("secret"),
    iterations: 4096,
    domain: "example.org",
    tlsActive: true,
    ...over,
  };
  return { ctx, lookups };
}

function assertFailure(step: SaslStep, condition: string): void {
  assert.equal(step.kind, "failure", JSON.stringify(step));
  if (step.kind === "failure") assert.equal(step.condition, condition);
}

describe("PLAIN", async () => {
  const users = { alice: await deriveCredentials("s3cret pass", 4096) };

  it("logs in an account with SHA-1 keys only and asks for its missing keys", async () => {
    const full = users.alice;
    const completed: string[] = [];
    const { ctx } = makeCtx(
      { alice: { salt: full.salt, iterations: full.iterations, "SHA-1": full["SHA-1"] } },
      { completeCredentials: async (u, p) => void completed.push(`${u}:${p}`) },
    );
    assert.deepEqual(await createPlain(ctx).start(msg("", "alice", "s3cret pass")), { kind: "success", username: "alice" });
    assert.deepEqual(completed, ["alice:s3cret pass"]);
    assertFailure(await createPlain(ctx).start(msg("", "alice", "wrong")), "not-authorized");
    assert.equal(completed.length, 1);
    // complete credentials are left alone
    const { ctx: ctx2 } = makeCtx(users, { completeCredentials: async () => void completed.push("again") });
    await createPlain(ctx2).start(msg("", "alice", "s3cret pass"));
    assert.equal(completed.length, 1);
  });

  it("authenticates with an initial response", async () => {
    const mech = createPlain(makeCtx(users).ctx);
    assert.equal(mech.name, "PLAIN");
    assert.deepEqual(await mech.start(msg("", "Alice", "s3cret pass")), { kind: "success", username: "alice" });
  });

  it("authenticates after an empty challenge", async () => {
    const mech = createPlain(makeCtx(users).ctx);
    assert.deepEqual(await mech.start(undefined), { kind: "challenge", data: Buffer.alloc(0) });
    assert.equal((await mech.step(msg("", "alice", "s3cret pass"))).kind, "success");
  });

  it("accepts an authzid naming the user itself", async () => {
    for (const authzid of ["alice", "alice@example.org"]) {
      assert.equal((await createPlain(makeCtx(users).ctx).start(msg(authzid, "alice", "s3cret pass"))).kind, "success");
    }
  });

  it("refuses another authzid with invalid-authzid", async () => {
    for (const authzid of ["bob", "alice@elsewhere.example", "bob@example.org"]) {
      assertFailure(await createPlain(makeCtx(users).ctx).start(msg(authzid, "alice", "s3cret pass")), "invalid-authzid");
    }
  });

  it("refuses a wrong password and an unknown user alike", async () => {
    assertFailure(await createPlain(makeCtx(users).ctx).start(msg("", "alice", "wrong")), "not-authorized");
    assertFailure(await createPlain(makeCtx(users).ctx).start(msg("", "nobody", "s3cret pass")), "not-authorized");
  });

  it("spends PBKDF2 time on unknown users too", async () => {
    // With a high iteration count the dummy derivation must be clearly measurable.
    const { ctx } = makeCtx({}, { iterations: 200_000 });
    const t0 = performance.now();
    assertFailure(await createPlain(ctx).start(msg("", "nobody", "pw")), "not-authorized");
    const unknownMs = performance.now() - t0;
    const { ctx: cheap } = makeCtx({}, { iterations: 1 });
    const t1 = performance.now();
    await createPlain(cheap).start(msg("", "nobody", "pw"));
    const cheapMs = performance.now() - t1;
    assert.ok(unknownMs > cheapMs * 5 && unknownMs > 20, `unknown ${unknownMs}ms vs cheap ${cheapMs}ms`);
  });

  it("requires TLS (encryption-required) without looking at the credentials", async () => {
    const { ctx, lookups } = makeCtx(users, { tlsActive: false });
    assertFailure(await createPlain(ctx).start(msg("", "alice", "s3cret pass")), "encryption-required");
    assertFailure(await createPlain(ctx).start(undefined), "encryption-required");
    assert.deepEqual(lookups, []);
  });

  it("fails malformed messages with malformed-request", async () => {
    const bad = [
      Buffer.alloc(0),
      Buffer.from("alice\0s3cret pass"),
      Buffer.from("\0\0s3cret pass"),
      Buffer.from("\0alice\0"),
      Buffer.from("\0alice\0pass\0more"),
      Buffer.from([0, 0x61, 0, 0xc3, 0x28]), // invalid UTF-8
      msg("", "alice", "x".repeat(2000)),
    ];
    for (const m of bad) {
      const { ctx, lookups } = makeCtx(users);
      assertFailure(await createPlain(ctx).start(m), "malformed-request");
      assert.deepEqual(lookups, []);
    }
  });

  it("refuses further messages once finished", async () => {
    const mech = createPlain(makeCtx(users).ctx);
    await mech.start(msg("", "alice", "s3cret pass"));
    assertFailure(await mech.step(msg("", "alice", "s3cret pass")), "malformed-request");
    const fresh = createPlain(makeCtx(users).ctx);
    assertFailure(await fresh.step(msg("", "alice", "s3cret pass")), "malformed-request");
  });
});
