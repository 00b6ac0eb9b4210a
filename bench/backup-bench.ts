// Backup throughput and memory: a SQLite store of 50,000 archive rows plus one upload of MB MiB
// (default 200) through createBackup and verifyBackup; peak RSS must not grow with the file size.
// Run: MB=400 npx tsx bench/backup-bench.ts
import { mkdirSync, mkdtempSync, openSync, writeSync, closeSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { createSqliteBackend } from "../src/storage/sqlite.js";
import { createBackup, verifyBackup } from "../src/core/lifecycle/backup.js";
const dir = mkdtempSync(join(tmpdir(), "warbler-backup-bench-"));
const s = await createSqliteBackend({ path: join(dir, "db.sqlite") });
for (let i = 0; i < 50000; i++) void s.archive("mam").append(`u${i % 100}@x`, { value: { body: "x".repeat(200) } });
await s.kv("k").set("o", 1);
mkdirSync(join(dir, "uploads"));
const fd = openSync(join(dir, "uploads", "big.bin"), "w");
const chunk = randomBytes(1 << 20);
for (let i = 0; i < Number(process.env.MB ?? 200); i++) writeSync(fd, chunk);
closeSync(fd);
const id = await generateIdentity();
const base = process.memoryUsage().rss; let peak = 0;
const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const t0 = Date.now();
const r = await createBackup({ storage: s, dataDir: dir, trees: ["uploads"], recipients: [await identityToRecipient(id)], dir: join(dir, "b"), hosts: [] });
const t1 = Date.now();
await verifyBackup(r.path, [id]);
const t2 = Date.now();
clearInterval(t);
console.log({ rows: r.manifest.rows, bytes: r.bytes, backupMs: t1 - t0, verifyMs: t2 - t1, baseMB: Math.round(base / 1e6), peakRssMB: Math.round(peak / 1e6) });
await s.close();
rmSync(dir, { recursive: true, force: true });
