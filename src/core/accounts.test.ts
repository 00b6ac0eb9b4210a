// Accounts created from imported SCRAM keys, and the SHA-256 keys an imported SHA-1-only account
// gains at its first PLAIN login.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMemoryBackend } from "../storage/memory.js";
import { jid } from "../jid/jid.js";
import { Accounts, type AccountRecord } from "./accounts.js";
import { deriveCredentials } from "./sasl/credentials.js";

describe("Accounts (imports)", () => {
  it("creates an account from SHA-1 keys and completes them with the verified password", async () => {
    const accounts = new Accounts(createMemoryBackend().kv<AccountRecord>("accounts"), { iterations: 4096, purge: async () => ({}) });
    const full = await deriveCredentials("old-password", 4096);
    const j = jid("ann", "example.com");
    await accounts.createWithCredentials(j, { salt: full.salt, iterations: full.iterations, "SHA-1": full["SHA-1"] }, "2020-01-02");
    assert.equal((await accounts.get(j))?.created, "2020-01-02");
    await assert.rejects(accounts.createWithCredentials(j, full), /exists/);
    assert.equal((await accounts.getCredentials(j))?.["SHA-256"], undefined);

    await accounts.completeCredentials(j, "wrong");
    assert.equal((await accounts.getCredentials(j))?.["SHA-256"], undefined, "a wrong password adds nothing");
    await accounts.completeCredentials(j, "old-password");
    assert.deepEqual(await accounts.getCredentials(j), full, "same salt and count: the SHA-1 keys stay, SHA-256 keys added");
    assert.ok(await accounts.verify(j, "old-password"));
  });
});
