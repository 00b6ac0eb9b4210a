// Accounts holding SHA-1 keys only (imports) and the mechanisms offered meanwhile.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Accounts, type AccountRecord } from "./accounts.js";
import { createMemoryBackend } from "../storage/memory.js";
import { deriveCredentials } from "./sasl/credentials.js";
import { mechanismsFor } from "./sasl/index.js";
import { jid } from "../jid/jid.js";

describe("accounts with SHA-1 keys only", () => {
  it("hides SCRAM-SHA-256 on their host until each gains SHA-256 keys", async () => {
    const store = createMemoryBackend().kv<AccountRecord>("accounts");
    const accounts = new Accounts(store, { iterations: 4096, purge: async () => ({}) });
    const full = await deriveCredentials("old-pass", 4096);
    const zoe = jid("zoe", "example.com");
    await accounts.createWithCredentials(zoe, { salt: full.salt, iterations: full.iterations, "SHA-1": full["SHA-1"] });
    await accounts.create(jid("amy", "other.example"), "pw-amy");
    assert.equal(accounts.hasSha1OnlyAccounts("example.com"), true);
    assert.equal(accounts.hasSha1OnlyAccounts("other.example"), false);
    // a restart finds them again
    const again = new Accounts(store, { iterations: 4096, purge: async () => ({}) });
    await again.loadKeyKinds(["example.com", "other.example"]);
    assert.equal(again.hasSha1OnlyAccounts("example.com"), true);
    await again.completeCredentials(zoe, "wrong");
    assert.equal(again.hasSha1OnlyAccounts("example.com"), true);
    await again.completeCredentials(zoe, "old-pass");
    assert.equal(again.hasSha1OnlyAccounts("example.com"), false);
  });

  it("offers SCRAM-SHA-1 alone when asked", () => {
    assert.deepEqual(mechanismsFor({ tls: true, channelBindingTypes: ["tls-exporter"], allowPlain: true, sha256: false }), ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"]);
    assert.deepEqual(mechanismsFor({ tls: false, channelBindingTypes: [], allowPlain: true }), ["SCRAM-SHA-256", "SCRAM-SHA-1"]);
  });
});
