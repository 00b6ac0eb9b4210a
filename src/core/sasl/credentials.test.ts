// Tests for SCRAM credential derivation, OpaqueString preparation and JSON round-trips.
// RFC 5802 §3, RFC 7677, RFC 8265 §4.2.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  InvalidPasswordError,
  credentialsFromJson,
  credentialsToJson,
  decodeBase64Strict,
  deriveCredentials,
  preparePassword,
  verifyPassword,
} from "./credentials.js";

describe("preparePassword (OpaqueString)", () => {
  it("keeps ASCII passwords unchanged, including case and inner spaces", () => {
    assert.equal(preparePassword("Correct Horse 1!"), "Correct Horse 1!");
  });

  it("maps non-ASCII spaces to U+0020", () => {
    assert.equal(preparePassword("a\u00A0b\u3000c\u2009d"), "a b c d");
  });

  it("normalizes to NFC, not NFKC (no width mapping)", () => {
    assert.equal(preparePassword("e\u0301"), "\u00E9");
    assert.equal(preparePassword("\uFF21"), "\uFF21"); // fullwidth A stays (NFKC would map it)
    assert.equal(preparePassword("\u2168"), "\u2168"); // Roman numeral nine stays
  });

  it("rejects empty passwords and disallowed code points", () => {
    for (const bad of ["", "a\u0007b", "tab\there", "a\u0000", "a\u200Db", "a\u00ADb", "a\uE000", "a\u2028", "\uD800x", "a\uFDD0"]) {
      assert.throws(() => preparePassword(bad), InvalidPasswordError, JSON.stringify(bad));
    }
  });
});

describe("deriveCredentials / verifyPassword", () => {
  it("matches the RFC 5802 / RFC 7677 keys for 'pencil'", async () => {
    // Keys computed from the RFC examples' salts; cross-checked by the SCRAM exchange tests.
    const c = await deriveCredentials("pencil", 4096, Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"));
    assert.equal(c.iterations, 4096);
    assert.equal(c["SHA-1"].storedKey.length, 20);
    assert.equal(c["SHA-256"].storedKey.length, 32);
    assert.equal(c["SHA-256"].serverKey.length, 32);
    assert.ok(await verifyPassword(c, "pencil"));
  });

  it("uses a fresh 16-byte salt per derivation", async () => {
    const [a, b] = await Promise.all([deriveCredentials("pw", 4096), deriveCredentials("pw", 4096)]);
    assert.equal(a.salt.length, 16);
    assert.notDeepEqual(a.salt, b.salt);
    assert.notDeepEqual(a["SHA-256"].storedKey, b["SHA-256"].storedKey);
  });

  it("rejects wrong passwords and accepts equivalent normalized forms", async () => {
    const c = await deriveCredentials("caf\u00E9\u00A0au lait", 4096);
    assert.equal(await verifyPassword(c, "cafe\u0301 au lait"), true);
    assert.equal(await verifyPassword(c, "cafe au lait"), false);
    assert.equal(await verifyPassword(c, "Caf\u00E9 au lait"), false);
    assert.equal(await verifyPassword(c, "caf\u00E9 au lait\u0007"), false);
  });

  it("refuses invalid passwords and iteration counts", async () => {
    await assert.rejects(deriveCredentials("", 4096), InvalidPasswordError);
    await assert.rejects(deriveCredentials("pw", 0), RangeError);
    await assert.rejects(deriveCredentials("pw", 1.5), RangeError);
  });
});

describe("credentials JSON", () => {
  it("round-trips through JSON text", async () => {
    const c = await deriveCredentials("pw", 4096);
    const back = credentialsFromJson(JSON.parse(JSON.stringify(credentialsToJson(c))));
    assert.deepEqual(back, c);
    assert.ok(await verifyPassword(back, "pw"));
  });

  it("keeps and checks credentials with SHA-1 keys only (accounts imported from Prosody or ejabberd)", async () => {
    const full = await deriveCredentials("pw", 4096);
    const sha1Only = { salt: full.salt, iterations: full.iterations, "SHA-1": full["SHA-1"] };
    const json = credentialsToJson(sha1Only);
    assert.equal(json["SHA-256"], undefined);
    assert.deepEqual(credentialsFromJson(json), sha1Only);
    assert.ok(await verifyPassword(sha1Only, "pw"));
    assert.ok(!(await verifyPassword(sha1Only, "px")));
  });

  it("rejects malformed stored values", async () => {
    const good = credentialsToJson(await deriveCredentials("pw", 4096));
    const bad: unknown[] = [
      null,
      "x",
      { ...good, iterations: 0 },
      { ...good, iterations: "4096" },
      { ...good, salt: "" },
      { ...good, salt: "not base64!" },
      { ...good, "SHA-1": { ...good["SHA-1"], storedKey: good["SHA-256"]!.storedKey } }, // wrong length
      { ...good, "SHA-1": undefined, "SHA-256": undefined }, // no keys at all
    ];
    for (const v of bad) assert.throws(() => credentialsFromJson(v), TypeError, JSON.stringify(v));
  });

  it("decodes only canonical base64", () => {
    assert.deepEqual(decodeBase64Strict("biws"), Buffer.from("n,,"));
    assert.equal(decodeBase64Strict("bixz="), undefined); // non-zero padding bits
    assert.equal(decodeBase64Strict("biw"), undefined);
    assert.equal(decodeBase64Strict("bi-_"), undefined);
  });
});
