import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describeDuration, privacyInventory } from "./inventory.js";
import { Core } from "../core.js";
import { parseConfig } from "../../config/schema.js";
import { silentLogger } from "../log.js";
import { createMemoryBackend } from "../../storage/memory.js";
import { allModules } from "../../modules/index.js";

async function inventory(over: Record<string, unknown> = {}): Promise<string> {
  const config = parseConfig(over);
  const core = new Core({ config, log: silentLogger(), storage: createMemoryBackend() });
  await core.loadModules(allModules);
  return privacyInventory(core.storeRegistry(), config);
}

describe("privacy inventory", () => {
  it("lists every store of every module with its lifecycle", async () => {
    const md = await inventory();
    for (const store of ["accounts", "roster", "roster_version", "invites"]) assert.match(md, new RegExp("`" + store + "`"));
    assert.match(md, /until the account is deleted/);
    assert.match(md, /7 days at most/);
  });

  it("follows the configuration", async () => {
    assert.match(await inventory({ auth: { scramIterations: 20000 } }), /20000 PBKDF2 iterations/);
  });

  it("is what docs/privacy.md says (regenerate: npx tsx src/main.ts privacy > docs/privacy.md)", async () => {
    const doc = readFileSync(new URL("../../../docs/privacy.md", import.meta.url), "utf8");
    assert.equal(doc, await inventory());
  });

  it("says how backups are made and how long deleted data stays in them", async () => {
    assert.match(await inventory(), /Warbler makes no backups on this server/);
    const key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    const md = await inventory({ backup: { recipients: [key, key.replace("ql3", "ql4")], intervalHours: 12, keep: 14 } });
    assert.match(md, /encrypted\nto 2 public keys/);
    assert.match(md, /every 12 hours/);
    assert.match(md, /newest 14 backups are kept/);
    assert.match(md, /for at most 7 days \(14 × 12 hours\) after the deletion/);
    assert.doesNotMatch(md, /makes no backups/);
    assert.match(await inventory({ backup: { recipients: [key], intervalHours: 0, keep: 3 } }), /only when an administrator runs/);
  });

  it("words durations", () => {
    assert.equal(describeDuration(86_400_000), "1 day");
    assert.equal(describeDuration(3 * 3_600_000), "3 hours");
  });
});

describe("retention sweep", () => {
  it("deletes rows of duration stores older than their retention, and nothing else", async () => {
    let now = Date.UTC(2026, 0, 1);
    const storage = createMemoryBackend({ now: () => now });
    const core = new Core({ config: parseConfig({}), log: silentLogger(), storage });
    await core.loadModules(allModules);
    await storage.kv("invites").set("localhost/old-token", { expires: now + 1 });
    await storage.map("roster").set("a@localhost", "b@localhost", { subscription: "both", groups: [] });
    now += 8 * 86_400_000; // past the 7-day retention of invites
    await storage.kv("invites").set("localhost/new-token", { expires: now + 1 });
    const removed = await core.retentionSweep(now);
    assert.equal(removed.invites, 1);
    assert.equal(await storage.kv("invites").get("localhost/old-token"), undefined);
    assert.ok(await storage.kv("invites").get("localhost/new-token"));
    assert.ok(await storage.map("roster").get("a@localhost", "b@localhost"));
  });
});
