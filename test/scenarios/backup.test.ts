// Encrypted backups end to end: `warbler backup` of a live server, wipe, `warbler restore`, and the
// restored server has the same data and the same passwords work; tampering and non-empty targets
// are refused; the running server makes scheduled backups.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { startTestServer } from "../helpers/server.js";
import { connectClient, xml } from "../helpers/client.js";
import type { StorageBackend } from "../../src/storage/types.js";
import { listBackups, verifyBackup } from "../../src/core/lifecycle/backup.js";

const ROOT = new URL("../..", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "warbler-backup-scenario-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const dir = (): string => {
  const d = join(tmp, `d${++n}`);
  mkdirSync(d);
  return d;
};

const identity = await generateIdentity();
const recipient = await identityToRecipient(identity);
const keyFile = join(tmp, "key.txt");
writeFileSync(keyFile, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function configFile(dataDir: string, backupDir: string): string {
  const path = join(tmp, `config-${++n}.yaml`);
  writeFileSync(path, [`hosts: [localhost]`, `dataDir: ${dataDir}`, `auth: { scramIterations: 4096 }`, `backup: { recipients: [${recipient}], dir: ${backupDir}, keep: 3 }`, ""].join("\n"));
  return path;
}

async function snapshot(s: StorageBackend): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const r of s.snapshot()) out.push(r.shape === "archive" ? { ...r, seq: 0 } : r);
  return out;
}

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const BODY = "the nightingale and not the lark";
const UPLOAD = randomBytes(150_000);

describe("backup and restore", () => {
  it("backup of a live server → wipe → restore gives the same server, and the same passwords work", async () => {
    const server = await startTestServer();
    await server.createAccount("juliet", "juliet-pw");
    await server.createAccount("romeo", "romeo-pw");
    const juliet = await connectClient(server, "juliet", "juliet-pw");
    await juliet.send(xml("message", { to: "romeo@localhost", type: "chat", id: "m1" }, xml("body", {}, BODY)));
    await until(async () => (await server.server.storage.countMentions(BODY)) >= 2, "the message in the archive and offline storage");
    await juliet.close();
    mkdirSync(join(server.dataDir, "uploads", "slot1"), { recursive: true });
    writeFileSync(join(server.dataDir, "uploads", "slot1", "balcony.png"), UPLOAD);

    const backups = dir();
    const made = await cli(["backup", "-c", configFile(server.dataDir, backups)]);
    assert.equal(made.code, 0, made.stderr);
    const file = made.stdout.trim();
    assert.match(file, /warbler-backup-\d{8}T\d{6}Z\.age$/);
    assert.match(made.stderr, /backup: \d+ rows, 1 files/);
    const before = await snapshot(server.server.storage);
    assert.ok(before.length >= 4);
    await server.stop(); // removes the data directory

    // unreadable without the key: no addresses, bodies or file bytes in the file
    const bytes = readFileSync(file);
    for (const needle of ["juliet", "romeo@localhost", BODY, "balcony"]) assert.equal(bytes.indexOf(needle), -1, needle);
    assert.equal(bytes.indexOf(UPLOAD.subarray(5000, 5032)), -1);

    // a tampered copy is refused and leaves the target empty
    const tampered = join(backups, "tampered.age");
    const bad = Buffer.from(bytes);
    bad[bad.length - 30]! ^= 1;
    writeFileSync(tampered, bad);
    const badTarget = dir();
    const refused = await cli(["restore", tampered, "-i", keyFile, "-c", configFile(badTarget, backups)]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /restore refused/);
    assert.deepEqual(readdirSync(badTarget), []);

    const target = dir();
    const targetConfig = configFile(target, backups);
    const restored = await cli(["restore", file, "-i", keyFile, "-c", targetConfig]);
    assert.equal(restored.code, 0, restored.stderr);
    // a second restore into the now non-empty directory is refused
    const again = await cli(["restore", file, "-i", keyFile, "-c", targetConfig]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /not empty/);

    const back = await startTestServer({ dataDir: target });
    try {
      assert.deepEqual(await snapshot(back.server.storage), before);
      assert.deepEqual(readFileSync(join(target, "uploads", "slot1", "balcony.png")), UPLOAD);
      // the SCRAM keys came back: the old passwords log in, the offline message is delivered
      const romeo = await connectClient(back, "romeo", "romeo-pw");
      await romeo.send(xml("presence"));
      const msg = await romeo.waitFor((el) => el.is("message") && el.getChildText("body") === BODY);
      assert.equal(msg.attrs.from?.split("/")[0], "juliet@localhost");
      await romeo.close();
      const j = await connectClient(back, "juliet", "juliet-pw");
      await j.close();
      await assert.rejects(connectClient(back, "juliet", "wrong-password"));
    } finally {
      await back.stop();
    }
  });

  it("the running server makes the scheduled backup and rotates", async () => {
    const backups = dir();
    // an old backup name to rotate out (keep: 1)
    writeFileSync(join(backups, "warbler-backup-20000101T000000Z.age"), "old");
    const server = await startTestServer({ backup: { recipients: [recipient], dir: backups, keep: 1, intervalHours: 24 } });
    try {
      await server.createAccount("juliet", "pw12");
      await until(async () => (await listBackups(backups)).some((f) => f.time > Date.UTC(2001, 0, 1)), "a scheduled backup");
      await until(async () => (await listBackups(backups)).length === 1, "rotation");
      const [only] = await listBackups(backups);
      const { header } = await verifyBackup(only!.path, [identity]);
      assert.deepEqual(header.hosts, ["localhost"]);
      assert.equal(header.backend, "sqlite");
    } finally {
      await server.stop();
    }
  });
});
