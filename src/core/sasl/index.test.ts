// Tests for the mechanism offer and factory. RFC 6120 §6.4.1.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMechanism, mechanismsFor } from "./index.js";
import type { SaslContext } from "./types.js";

const ctx = (over: Partial<SaslContext & { tlsActive: boolean }> = {}): SaslContext & { tlsActive: boolean } => ({
  getCredentials: async () => undefined,
  normalizeUsername: (u) => u,
  plusOffered: false,
  fakeSaltSecret: Buffer.from("s"),
  iterations: 4096,
  tlsActive: true,
  ...over,
});

describe("mechanismsFor", () => {
  it("offers everything, strongest first, on TLS with channel binding and PLAIN allowed", () => {
    assert.deepEqual(mechanismsFor({ tls: true, channelBindingTypes: ["tls-exporter"], allowPlain: true }), [
      "SCRAM-SHA-256-PLUS",
      "SCRAM-SHA-1-PLUS",
      "SCRAM-SHA-256",
      "SCRAM-SHA-1",
      "PLAIN",
    ]);
  });

  it("drops -PLUS without channel binding and PLAIN without TLS or policy", () => {
    assert.deepEqual(mechanismsFor({ tls: true, channelBindingTypes: [], allowPlain: false }), ["SCRAM-SHA-256", "SCRAM-SHA-1"]);
    assert.deepEqual(mechanismsFor({ tls: false, channelBindingTypes: [], allowPlain: true }), ["SCRAM-SHA-256", "SCRAM-SHA-1"]);
  });
});

describe("createMechanism", () => {
  it("creates each offered mechanism by name", () => {
    const c = ctx({ channelBinding: { types: ["tls-exporter"], get: () => Buffer.alloc(32) } });
    for (const name of ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]) {
      assert.equal(createMechanism(name, c)?.name, name);
    }
  });

  it("returns undefined for unknown names and -PLUS without channel binding", () => {
    assert.equal(createMechanism("DIGEST-MD5", ctx()), undefined);
    assert.equal(createMechanism("scram-sha-1", ctx()), undefined);
    assert.equal(createMechanism("SCRAM-SHA-256-PLUS", ctx()), undefined);
  });
});
