// Tests for the SCRAM server: RFC 5802 §5 and RFC 7677 §3 vectors, failures, channel binding.
// RFC 5802, RFC 7677, RFC 6120 §6.5.

import assert from "node:assert/strict";
import { createHmac, pbkdf2Sync } from "node:crypto";
import { describe, it } from "node:test";
import { SCRAM_HASHES, deriveCredentials, keysFromSaltedPassword } from "./credentials.js";
import { createScram, decodeSaslname } from "./scram.js";
import type { ChannelBinding, SaslContext, SaslMechanism, SaslStep, ScramCredentials, ScramHash } from "./types.js";

const b = (s: string) => Buffer.from(s, "utf8");

function makeCtx(users: Record<string, ScramCredentials>, over: Partial<SaslContext> = {}): SaslContext {
  return {
    getCredentials: async (u) => users[u],
    normalizeUsername: (u) => (u.length === 0 || /[@/\s]/.test(u) ? undefined : u.toLowerCase()),
    plusOffered: false,
    fakeSaltSecret: b("test secret"),
    iterations: 4096,
    ...over,
  };
}

function fixedCb(types: Record<string, Buffer>): ChannelBinding {
  return { types: Object.keys(types), get: (t) => types[t] };
}

/** Minimal SCRAM client (RFC 5802 §3) used to drive the server. */
function clientFinal(opts: {
  hash: ScramHash;
  password: string;
  clientFirstBare: string;
  serverFirst: string;
  gs2Header: string;
  cbData?: Buffer;
  nonceOverride?: string;
}): { message: string; expectedServerFinal: string } {
  const attrs = Object.fromEntries(opts.serverFirst.split(",").map((f) => [f[0], f.slice(2)]));
  const salt = Buffer.from(attrs.s!, "base64");
  const iterations = Number(attrs.i);
  const h = SCRAM_HASHES[opts.hash];
  const salted = pbkdf2Sync(opts.password, salt, iterations, h.length, h.node);
  const { clientKey, serverKey, storedKey } = keysFromSaltedPassword(salted, opts.hash);
  const c = Buffer.concat([b(opts.gs2Header), opts.cbData ?? Buffer.alloc(0)]).toString("base64");
  const withoutProof = `c=${c},r=${opts.nonceOverride ?? attrs.r}`;
  const authMessage = `${opts.clientFirstBare},${opts.serverFirst},${withoutProof}`;
  const sig = createHmac(h.node, storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((x, i) => x ^ sig[i]!));
  const serverSig = createHmac(h.node, serverKey).update(authMessage).digest();
  return { message: `${withoutProof},p=${proof.toString("base64")}`, expectedServerFinal: `v=${serverSig.toString("base64")}` };
}

function challengeText(step: SaslStep): string {
  assert.equal(step.kind, "challenge", JSON.stringify(step));
  return step.kind === "challenge" ? step.data.toString("utf8") : "";
}

/** Runs a whole exchange; returns the server-first text and the final step. */
async function exchange(
  mech: SaslMechanism,
  opts: { hash: ScramHash; user: string; password: string; gs2Header?: string; cbData?: Buffer; nonceOverride?: string },
): Promise<{ serverFirst: string; final: SaslStep; expectedServerFinal: string }> {
  const gs2Header = opts.gs2Header ?? "n,,";
  const clientFirstBare = `n=${opts.user},r=clientnonce123`;
  const serverFirst = challengeText(await mech.start(b(gs2Header + clientFirstBare)));
  const cf = clientFinal({ ...opts, gs2Header, clientFirstBare, serverFirst });
  return { serverFirst, final: await mech.step(b(cf.message)), expectedServerFinal: cf.expectedServerFinal };
}

function assertFailure(step: SaslStep, condition: string): void {
  assert.equal(step.kind, "failure", JSON.stringify(step));
  if (step.kind === "failure") assert.equal(step.condition, condition, step.text);
}

describe("SCRAM RFC test vectors", () => {
  it("reproduces the RFC 5802 §5 SCRAM-SHA-1 exchange", async () => {
    const creds = await deriveCredentials("pencil", 4096, Buffer.from("QSXCR+Q6sek8bf92", "base64"));
    const mech = createScram("SHA-1", false, makeCtx({ user: creds }), { serverNonce: () => "3rfcNHYJY1ZVvWVs7j" });
    assert.equal(mech.name, "SCRAM-SHA-1");
    const first = await mech.start(b("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
    assert.equal(challengeText(first), "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    const final = await mech.step(b("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="));
    assert.deepEqual(final, { kind: "success", username: "user", data: b("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") });
  });

  it("reproduces the RFC 7677 §3 SCRAM-SHA-256 exchange", async () => {
    const creds = await deriveCredentials("pencil", 4096, Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"));
    const mech = createScram("SHA-256", false, makeCtx({ user: creds }), { serverNonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" });
    const first = await mech.start(b("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    assert.equal(challengeText(first), "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    const final = await mech.step(
      b("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
    );
    assert.deepEqual(final, { kind: "success", username: "user", data: b("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") });
  });
});

describe("SCRAM exchange", async () => {
  const creds = await deriveCredentials("correct horse", 4096);
  const users = { alice: creds };

  for (const hash of ["SHA-1", "SHA-256"] as const) {
    it(`authenticates with ${hash} and a default random server nonce`, async () => {
      const mech = createScram(hash, false, makeCtx(users));
      const { serverFirst, final, expectedServerFinal } = await exchange(mech, { hash, user: "alice", password: "correct horse" });
      assert.match(serverFirst, /^r=clientnonce123[A-Za-z0-9+/]{32},s=[A-Za-z0-9+/]{22}==,i=4096$/);
      assert.deepEqual(final, { kind: "success", username: "alice", data: b(expectedServerFinal) });
    });
  }

  it("serves an account imported with SHA-1 keys only with SCRAM-SHA-1, and fails SCRAM-SHA-256 like a wrong password", async () => {
    const sha1Only = { alice: { ...creds, "SHA-256": undefined } };
    const ok = await exchange(createScram("SHA-1", false, makeCtx(sha1Only)), { hash: "SHA-1", user: "alice", password: "correct horse" });
    assert.equal(ok.final.kind, "success");
    const no = await exchange(createScram("SHA-256", false, makeCtx(sha1Only)), { hash: "SHA-256", user: "alice", password: "correct horse" });
    assert.match(no.serverFirst, new RegExp(`,s=${creds.salt.toString("base64").replace(/[+/]/g, "\\$&")},`), "the account's own salt");
    assertFailure(no.final, "not-authorized");
  });

  it("accepts the exchange without initial response (empty challenge first)", async () => {
    const mech = createScram("SHA-256", false, makeCtx(users));
    assert.deepEqual(await mech.start(undefined), { kind: "challenge", data: Buffer.alloc(0) });
    const serverFirst = challengeText(await mech.step(b("n,,n=alice,r=abc")));
    const cf = clientFinal({ hash: "SHA-256", password: "correct horse", clientFirstBare: "n=alice,r=abc", serverFirst, gs2Header: "n,," });
    assert.equal((await mech.step(b(cf.message))).kind, "success");
  });

  it("normalizes the username through the context", async () => {
    const mech = createScram("SHA-256", false, makeCtx(users));
    const { final } = await exchange(mech, { hash: "SHA-256", user: "ALICE", password: "correct horse" });
    assert.equal(final.kind === "success" && final.username, "alice");
  });

  it("rejects a wrong password with not-authorized", async () => {
    const mech = createScram("SHA-256", false, makeCtx(users));
    const { final } = await exchange(mech, { hash: "SHA-256", user: "alice", password: "wrong horse" });
    assertFailure(final, "not-authorized");
  });

  it("treats an unknown user exactly like a wrong password, with a stable fake salt", async () => {
    const ctx = makeCtx(users, { iterations: 8192 });
    const shape = /^r=clientnonce123[A-Za-z0-9+/]{32},s=([A-Za-z0-9+/]{22}==),i=(\d+)$/;
    const a = await exchange(createScram("SHA-256", false, ctx), { hash: "SHA-256", user: "mallory", password: "x" });
    const a2 = await exchange(createScram("SHA-1", false, ctx), { hash: "SHA-1", user: "mallory", password: "y" });
    const other = await exchange(createScram("SHA-256", false, ctx), { hash: "SHA-256", user: "trudy", password: "x" });
    const real = await exchange(createScram("SHA-256", false, ctx), { hash: "SHA-256", user: "alice", password: "wrong" });
    const [, saltA, iterA] = a.serverFirst.match(shape) ?? [];
    const [, saltA2] = a2.serverFirst.match(shape) ?? [];
    const [, saltOther] = other.serverFirst.match(shape) ?? [];
    const [, saltReal] = real.serverFirst.match(shape) ?? [];
    assert.ok(saltA && saltA2 && saltOther && saltReal, "all server-first messages share one shape");
    assert.equal(saltA, saltA2, "fake salt is stable across attempts and hashes");
    assert.notEqual(saltA, saltOther, "fake salt differs per user");
    assert.equal(iterA, "8192", "unknown users report ctx.iterations");
    assert.deepEqual(a.final, real.final);
    assertFailure(a.final, "not-authorized");
  });

  it("fake salt depends on the secret", async () => {
    const run = async (secret: string) =>
      (await exchange(createScram("SHA-256", false, makeCtx({}, { fakeSaltSecret: b(secret) })), { hash: "SHA-256", user: "bob", password: "p" }))
        .serverFirst.split(",")[1];
    assert.notEqual(await run("one"), await run("two"));
  });

  it("rejects a nonce that is not the exchange's", async () => {
    const mech = createScram("SHA-256", false, makeCtx(users));
    const { final } = await exchange(mech, { hash: "SHA-256", user: "alice", password: "correct horse", nonceOverride: "clientnonce123xyz" });
    assertFailure(final, "not-authorized");
  });

  it("refuses any message after success or failure, and a second start", async () => {
    const ok = createScram("SHA-256", false, makeCtx(users));
    await exchange(ok, { hash: "SHA-256", user: "alice", password: "correct horse" });
    assertFailure(await ok.step(Buffer.alloc(0)), "malformed-request");
    const started = createScram("SHA-256", false, makeCtx(users));
    await started.start(b("n,,n=alice,r=abc"));
    assertFailure(await started.start(b("n,,n=alice,r=abc")), "malformed-request");
    assertFailure(await started.step(b("c=biws,r=abc,p=AAAA")), "malformed-request");
  });

  it("refuses data sent while a step is still pending", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ctx = makeCtx({}, { getCredentials: async (u) => (await gate, users[u as "alice"]) });
    const mech = createScram("SHA-256", false, ctx);
    const pending = mech.start(b("n,,n=alice,r=abc"));
    assertFailure(await mech.step(b("c=biws,r=abc,p=AAAA")), "malformed-request");
    release();
    assertFailure(await pending, "malformed-request");
  });

  it("propagates a credential store error and ends the exchange", async () => {
    const mech = createScram("SHA-256", false, makeCtx({}, { getCredentials: async () => Promise.reject(new Error("db down")) }));
    await assert.rejects(mech.start(b("n,,n=alice,r=abc")), /db down/);
    assertFailure(await mech.step(b("n,,n=alice,r=abc")), "malformed-request");
  });
});

describe("SCRAM malformed client-first", async () => {
  const creds = await deriveCredentials("pw", 4096);
  const cases: Array<[string, string | Buffer, string?]> = [
    ["empty", ""],
    ["no gs2 header", "n=alice,r=abc"],
    ["one comma only", "n,n=alice"],
    ["unknown cbind flag", "x,,n=alice,r=abc"],
    ["bad cb-name", "p=tls_unique!,,n=alice,r=abc"],
    ["authzid without a=", "n,b=alice,n=alice,r=abc"],
    ["missing username", "n,,r=abc"],
    ["empty username", "n,,n=,r=abc"],
    ["bad = escape in username", "n,,n=al=2Xice,r=abc", "invalid-username-encoding"],
    ["bare = in username", "n,,n=al=ice,r=abc", "invalid-username-encoding"],
    ["bad = escape in authzid", "n,a=x=,n=alice,r=abc"],
    ["missing nonce", "n,,n=alice"],
    ["empty nonce", "n,,n=alice,r="],
    ["nonce with space", "n,,n=alice,r=a b"],
    ["mandatory extension m=", "n,,m=ext,n=alice,r=abc", "extensions-not-supported"],
    ["malformed extension", "n,,n=alice,r=abc,12=x"],
    ["empty extension", "n,,n=alice,r=abc,"],
    ["NUL byte", "n,,n=ali\0ce,r=abc"],
    ["invalid UTF-8", Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]), "invalid-encoding"],
    ["too long", `n,,n=alice,r=${"a".repeat(5000)}`],
  ];
  for (const [label, msg, text] of cases) {
    it(`fails with malformed-request: ${label}`, async () => {
      let looked = false;
      const ctx = makeCtx({}, { getCredentials: async () => ((looked = true), creds) });
      const step = await createScram("SHA-256", false, ctx).start(typeof msg === "string" ? b(msg) : msg);
      assertFailure(step, "malformed-request");
      if (text !== undefined) assert.equal(step.kind === "failure" && step.text, text);
      assert.equal(looked, false, "no account lookup for a malformed message");
    });
  }

  it("ignores well-formed optional extensions", async () => {
    const mech = createScram("SHA-256", false, makeCtx({ alice: creds }));
    assert.equal((await mech.start(b("n,,n=alice,r=abc,x=whatever=2C"))).kind, "challenge");
  });

  it("decodes =2C and =3D in the username", () => {
    assert.equal(decodeSaslname("a=2Cb=3Dc"), "a,b=c");
    assert.equal(decodeSaslname("a=2c"), undefined);
    assert.equal(decodeSaslname(""), undefined);
  });

  it("fails an invalid username with not-authorized", async () => {
    assertFailure(await createScram("SHA-256", false, makeCtx({})).start(b("n,,n=a b,r=abc")), "not-authorized");
  });
});

describe("SCRAM malformed client-final", async () => {
  const creds = await deriveCredentials("pw", 4096);
  const started = async () => {
    const mech = createScram("SHA-256", false, makeCtx({ alice: creds }), { serverNonce: () => "SRV" });
    challengeText(await mech.start(b("n,,n=alice,r=abc")));
    return mech;
  };
  const proof = Buffer.alloc(32, 1).toString("base64");
  const cases: Array<[string, string]> = [
    ["empty", ""],
    ["missing proof", "c=biws,r=abcSRV"],
    ["missing channel binding", `r=abcSRV,p=${proof}`],
    ["wrong order", `r=abcSRV,c=biws,p=${proof}`],
    ["proof not last", `c=biws,r=abcSRV,p=${proof},x=1`],
    ["bad base64 in c=", `c=bi*s,r=abcSRV,p=${proof}`],
    ["non-canonical base64 in p=", `c=biws,r=abcSRV,p=${proof.slice(0, -2)}B=`],
    ["proof of the wrong length", `c=biws,r=abcSRV,p=${Buffer.alloc(20).toString("base64")}`],
    ["malformed extension", `c=biws,r=abcSRV,=x,p=${proof}`],
  ];
  for (const [label, msg] of cases) {
    it(`fails with malformed-request: ${label}`, async () => {
      assertFailure(await (await started()).step(b(msg)), "malformed-request");
    });
  }

  it("ignores a well-formed extension before the proof (then fails on the proof)", async () => {
    assertFailure(await (await started()).step(b(`c=biws,r=abcSRV,x=1,p=${proof}`)), "not-authorized");
  });
});

describe("SCRAM authzid", async () => {
  const creds = await deriveCredentials("pw", 4096);
  const ctx = makeCtx({ alice: creds }, { domain: "example.org" });
  const run = (gs2Header: string) => exchange(createScram("SHA-256", false, ctx), { hash: "SHA-256", user: "alice", password: "pw", gs2Header });

  it("accepts an authzid equal to the username or the bare JID", async () => {
    assert.equal((await run("n,a=alice,")).final.kind, "success");
    assert.equal((await run("n,a=Alice@Example.org,")).final.kind, "success");
  });

  it("refuses another identity with invalid-authzid", async () => {
    for (const gs2 of ["n,a=bob,", "n,a=alice@other.example,", "n,a=alice@example.org/res,"]) {
      const step = await createScram("SHA-256", false, ctx).start(b(`${gs2}n=alice,r=abc`));
      assertFailure(step, "invalid-authzid");
    }
  });

  it("refuses a bare JID authzid when the context has no domain", async () => {
    const step = await createScram("SHA-256", false, makeCtx({ alice: creds })).start(b("n,a=alice@example.org,n=alice,r=abc"));
    assertFailure(step, "invalid-authzid");
  });
});

describe("SCRAM channel binding", async () => {
  const creds = await deriveCredentials("pw", 4096);
  const exporter = Buffer.alloc(32, 7);
  const cb = fixedCb({ "tls-exporter": exporter });

  it("succeeds on -PLUS with matching tls-exporter data", async () => {
    const mech = createScram("SHA-256", true, makeCtx({ alice: creds }, { channelBinding: cb, plusOffered: true }));
    assert.equal(mech.name, "SCRAM-SHA-256-PLUS");
    const { final } = await exchange(mech, { hash: "SHA-256", user: "alice", password: "pw", gs2Header: "p=tls-exporter,,", cbData: exporter });
    assert.equal(final.kind, "success");
  });

  it("fails -PLUS when the client's binding data differs (MITM)", async () => {
    const mech = createScram("SHA-1", true, makeCtx({ alice: creds }, { channelBinding: cb, plusOffered: true }));
    const { final } = await exchange(mech, { hash: "SHA-1", user: "alice", password: "pw", gs2Header: "p=tls-exporter,,", cbData: Buffer.alloc(32, 8) });
    assertFailure(final, "not-authorized");
  });

  it("fails -PLUS for an unsupported type, and without p=", async () => {
    const ctx = makeCtx({ alice: creds }, { channelBinding: cb, plusOffered: true });
    assertFailure(await createScram("SHA-256", true, ctx).start(b("p=tls-unique,,n=alice,r=abc")), "not-authorized");
    assertFailure(await createScram("SHA-256", true, makeCtx({ alice: creds })).start(b("p=tls-exporter,,n=alice,r=abc")), "not-authorized");
    assertFailure(await createScram("SHA-256", true, ctx).start(b("n,,n=alice,r=abc")), "malformed-request");
    assertFailure(await createScram("SHA-256", true, ctx).start(b("y,,n=alice,r=abc")), "malformed-request");
  });

  it("fails p= on a non-PLUS mechanism", async () => {
    const ctx = makeCtx({ alice: creds }, { channelBinding: cb, plusOffered: true });
    assertFailure(await createScram("SHA-256", false, ctx).start(b("p=tls-exporter,,n=alice,r=abc")), "malformed-request");
  });

  it("detects a downgrade: gs2 flag y while -PLUS was offered", async () => {
    const ctx = makeCtx({ alice: creds }, { channelBinding: cb, plusOffered: true });
    const step = await createScram("SHA-256", false, ctx).start(b("y,,n=alice,r=abc"));
    assertFailure(step, "not-authorized");
    assert.equal(step.kind === "failure" && step.text, "server-does-support-channel-binding");
  });

  it("accepts y when -PLUS was not offered", async () => {
    const mech = createScram("SHA-256", false, makeCtx({ alice: creds }));
    const { final } = await exchange(mech, { hash: "SHA-256", user: "alice", password: "pw", gs2Header: "y,," });
    assert.equal(final.kind, "success");
  });

  it("requires c= to repeat the exact gs2 header", async () => {
    const mech = createScram("SHA-256", false, makeCtx({ alice: creds }));
    const serverFirst = challengeText(await mech.start(b("y,,n=alice,r=abc")));
    // The client claims "n,," in c= although it sent "y,,": a stripped flag is detected here.
    const cf = clientFinal({ hash: "SHA-256", password: "pw", clientFirstBare: "n=alice,r=abc", serverFirst, gs2Header: "n,," });
    assertFailure(await mech.step(b(cf.message)), "not-authorized");
  });
});
