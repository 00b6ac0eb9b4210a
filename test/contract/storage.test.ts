// Runs the storage contract against every backend (memory, SQLite file, SQLite :memory:), then
// the SQLite-only guarantees: data survives close + reopen, migrations run once, file is private.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { openStorage } from "../../src/storage/index.js";
import { createMemoryBackend } from "../../src/storage/memory.js";
import { SQLITE_MIGRATIONS, createSqliteBackend, type Migration } from "../../src/storage/sqlite.js";
import { runStorageContract } from "./storage.contract.js";

const dir = mkdtempSync(join(tmpdir(), "warbler-storage-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const tempPath = (): string => join(dir, `db-${++files}.sqlite`);

runStorageContract("memory", async ({ now }) => createMemoryBackend({ now }));
runStorageContract("sqlite file", async ({ now }) => createSqliteBackend({ path: tempPath(), now }));
runStorageContract("sqlite :memory:", async ({ now }) => createSqliteBackend({ path: ":memory:", now }));

describe("sqlite backend", () => {
  it("keeps data across close and reopen", async () => {
    const path = tempPath();
    const s1 = await createSqliteBackend({ path });
    await s1.kv("vcard").set("juliet@example.com", { fn: "Juliet" });
    await s1.map("roster").setMany("juliet@example.com", { "romeo@example.com": "both", "nurse@example.com": "to" });
    const idsWritten: string[] = [];
    for (let i = 0; i < 5; i++) idsWritten.push(await s1.archive("mam").append("juliet@example.com", { when: 1000, value: i }));
    await s1.close();

    const s2 = await createSqliteBackend({ path });
    assert.deepEqual(await s2.kv("vcard").get("juliet@example.com"), { fn: "Juliet" });
    assert.equal((await s2.map("roster").getAll("juliet@example.com")).size, 2);
    const r = await s2.archive("mam").query("juliet@example.com", { after: idsWritten[1], limit: 2 });
    assert.deepEqual(r.items.map((i) => i.value), [2, 3]);
    // The autoincrement tie-breaker continues: a new item at the same time sorts last.
    const later = await s2.archive("mam").append("juliet@example.com", { when: 1000, value: 5 });
    assert.equal((await s2.archive("mam").query("juliet@example.com", { reverse: true, limit: 1 })).items[0]!.id, later);
    await s2.close();
  });

  it("applies each migration once and only the missing ones on reopen", async () => {
    const path = tempPath();
    const seen: number[][] = [];
    const open = async (migrations: readonly Migration[]) => {
      const applied: number[] = [];
      const s = await createSqliteBackend({ path, migrations, onMigrate: (v) => applied.push(v) });
      seen.push(applied);
      return s;
    };
    await (await open(SQLITE_MIGRATIONS)).close();
    await (await open(SQLITE_MIGRATIONS)).close();
    const extra: Migration = {
      version: 1000,
      description: "test step",
      async up(db) {
        await db.schema.createTable("test_extra").addColumn("x", "integer").execute();
      },
    };
    const s = await open([...SQLITE_MIGRATIONS, extra]);
    await s.kv("k").set("o", 1);
    await s.close();
    await (await open([...SQLITE_MIGRATIONS, extra])).close();
    const all = SQLITE_MIGRATIONS.map((m) => m.version);
    assert.deepEqual(seen, [all, [], [1000], []]);

    const raw = new Database(path, { readonly: true });
    try {
      const versions = raw.prepare("select version from warbler_migrations order by version").pluck().all();
      assert.deepEqual(versions, [...all, 1000]);
      assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
    } finally {
      raw.close();
    }
    // A database newer than the code refuses to open rather than run on an unknown schema.
    await assert.rejects(createSqliteBackend({ path }), /newer/);
  });

  it("rolls back a failing migration entirely", async () => {
    const path = tempPath();
    const bad: Migration = {
      version: 2000,
      description: "fails halfway",
      async up(db) {
        await db.schema.createTable("half_done").addColumn("x", "integer").execute();
        throw new Error("boom");
      },
    };
    await assert.rejects(createSqliteBackend({ path, migrations: [...SQLITE_MIGRATIONS, bad] }), /boom/);
    const raw = new Database(path, { readonly: true });
    try {
      const tables = raw.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all();
      assert.ok(!tables.includes("half_done"));
      assert.ok(!tables.includes("kv"));
    } finally {
      raw.close();
    }
    // The same file then opens normally.
    await (await createSqliteBackend({ path })).close();
  });

  it("creates the database file readable by its owner only", async (t) => {
    if (process.platform === "win32") return t.skip("POSIX permissions");
    const path = tempPath();
    await (await createSqliteBackend({ path })).close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });
});

describe("openStorage", () => {
  it("opens the configured backend", async () => {
    const m = await openStorage({ backend: "memory" });
    assert.equal(m.kind, "memory");
    await m.close();
    const s = await openStorage({ backend: "sqlite", path: tempPath() });
    assert.equal(s.kind, "sqlite");
    await s.close();
    await assert.rejects(openStorage({ backend: "sqlite" }), /path/);
    await assert.rejects(openStorage({ backend: "postgres" as "sqlite" }), /unknown storage backend/);
  });
});
