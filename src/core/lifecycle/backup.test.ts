import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Encrypter, generateIdentity, identityToRecipient } from "age-encryption";
import { createMemoryBackend } from "../../storage/memory.js";
import type { SnapshotRow, StorageBackend } from "../../storage/types.js";
import { BackupFormatError, createBackup, fileTrees, listBackups, parseIdentities, restoreBackup, rotateBackups, verifyBackup } from "./backup.js";

const root = mkdtempSync(join(tmpdir(), "warbler-backup-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => {
  const d = join(root, `d${++dirs}`);
  mkdirSync(d, { recursive: true });
  return d;
};

const identity = await generateIdentity();
const recipient = await identityToRecipient(identity);
const otherIdentity = await generateIdentity();
const BODY = "meet me at the secret balcony";
const BIG = randomBytes(300_000); // several 64 KiB STREAM chunks

async function populated(): Promise<{ storage: StorageBackend; dataDir: string }> {
  const storage = createMemoryBackend({ now: () => 1_700_000_000_000 });
  await storage.kv("accounts").set("juliet@example.com", { storedKey: "c3RvcmVk", iterations: 4096 });
  await storage.map("roster").set("juliet@example.com", "romeo@example.com", { subscription: "both" });
  for (let i = 0; i < 3; i++) await storage.archive("mam").append("juliet@example.com", { when: 1000, with: "romeo@example.com", value: { body: `${BODY} ${i}` } });
  const dataDir = freshDir();
  mkdirSync(join(dataDir, "uploads", "ab", "cd"), { recursive: true });
  writeFileSync(join(dataDir, "uploads", "ab", "cd", "photo.jpg"), BIG);
  writeFileSync(join(dataDir, "uploads", "note.txt"), "juliet@example.com uploaded this");
  mkdirSync(join(dataDir, "certs"));
  writeFileSync(join(dataDir, "certs", "localhost.key"), "PRIVATE KEY");
  return { storage, dataDir };
}

async function snapshot(s: StorageBackend): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const r of s.snapshot()) out.push(r.shape === "archive" ? { ...r, seq: 0 } : r);
  return out;
}

async function backup(storage: StorageBackend, dataDir: string, dir = freshDir(), now?: () => number) {
  return createBackup({ storage, dataDir, trees: fileTrees([]), recipients: [recipient], dir, hosts: ["example.com"], now });
}

function hasAge(): boolean {
  try {
    execFileSync("age", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("encrypted backups", () => {
  it("backup then restore gives the same rows and files; certificates stay out", async () => {
    const { storage, dataDir } = await populated();
    const res = await backup(storage, dataDir);
    assert.equal(res.manifest.rows, 5);
    assert.equal(res.manifest.files, 2);
    assert.equal(statSync(res.path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(res.path, "..")), [res.path.split("/").at(-1)]); // no temp file left

    const checked = await verifyBackup(res.path, [identity]);
    assert.deepEqual(checked.manifest.stores, { accounts: 1, roster: 1, mam: 3 });
    assert.deepEqual(checked.header.trees, ["uploads"]);

    const target = createMemoryBackend();
    const targetDir = freshDir();
    await restoreBackup({ file: res.path, identities: [identity], storage: target, dataDir: targetDir });
    assert.deepEqual(await snapshot(target), await snapshot(storage));
    assert.deepEqual(readFileSync(join(targetDir, "uploads", "ab", "cd", "photo.jpg")), BIG);
    assert.equal(readFileSync(join(targetDir, "uploads", "note.txt"), "utf8"), "juliet@example.com uploaded this");
    // mtime comes back to the millisecond (utimes goes through float seconds: round)
    assert.equal(Math.round(statSync(join(targetDir, "uploads", "note.txt")).mtimeMs), Math.trunc(statSync(join(dataDir, "uploads", "note.txt")).mtimeMs));
    assert.deepEqual(readdirSync(targetDir), ["uploads"]);
  });

  it("holds no plaintext: no JIDs, bodies or file contents in the bytes, and the wrong key cannot read it", async () => {
    const { storage, dataDir } = await populated();
    const res = await backup(storage, dataDir);
    const bytes = readFileSync(res.path);
    assert.ok(bytes.subarray(0, 40).toString("latin1").startsWith("age-encryption.org/v1\n"));
    for (const needle of ["juliet", "romeo", "example.com", "secret balcony", "storedKey", "uploaded this", "photo.jpg"]) {
      assert.equal(bytes.indexOf(needle), -1, `${needle} appears in the backup`);
    }
    assert.equal(bytes.indexOf(BIG.subarray(1000, 1032)), -1);
    await assert.rejects(verifyBackup(res.path, [otherIdentity]), BackupFormatError);
  });

  it("refuses a tampered, truncated or extended backup", async () => {
    const { storage, dataDir } = await populated();
    const res = await backup(storage, dataDir);
    const good = readFileSync(res.path);
    const variants: [string, Buffer][] = [
      ["a flipped byte in the payload", Buffer.from(good).fill(good[200_000]! ^ 1, 200_000, 200_001)],
      ["a flipped byte in the last chunk", Buffer.from(good).fill(good[good.length - 5]! ^ 0x40, good.length - 5, good.length - 4)],
      ["a flipped byte in the header", Buffer.from(good).fill(good[60]! ^ 1, 60, 61)],
      ["the last chunk cut off", good.subarray(0, good.length - (good.length % (65536 + 16)) - 1)],
      ["a whole chunk cut off", good.subarray(0, good.length - 200)],
      ["bytes appended", Buffer.concat([good, Buffer.from("x")])],
    ];
    for (const [what, bytes] of variants) {
      const f = join(freshDir(), "bad.age");
      writeFileSync(f, bytes);
      await assert.rejects(verifyBackup(f, [identity]), BackupFormatError, what);
      await assert.rejects(restoreBackup({ file: f, identities: [identity], storage: createMemoryBackend(), dataDir: freshDir() }), BackupFormatError, what);
    }
  });

  it("checks the manifest inside the encryption: counts, hashes and paths", async () => {
    const enc = new Encrypter();
    enc.addRecipient(recipient);
    const header = JSON.stringify({ warblerBackup: 1, created: "", server: "", backend: "memory", hosts: [], trees: ["uploads"] });
    const row: SnapshotRow = { shape: "kv", store: "s", owner: "o", value: "1", updated: 1 };
    const rowLine = JSON.stringify({ t: "row", ...row });
    const { createHash } = await import("node:crypto");
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    const cases: [string, string][] = [
      ["wrong count", `${header}\n${rowLine}\n${JSON.stringify({ t: "end", rows: 2, stores: { s: 2 }, files: 0, fileBytes: 0, sha256: sha(`${header}\n${rowLine}\n`) })}\n`],
      ["wrong hash", `${header}\n${rowLine}\n${JSON.stringify({ t: "end", rows: 1, stores: { s: 1 }, files: 0, fileBytes: 0, sha256: sha("x") })}\n`],
      ["no manifest", `${header}\n${rowLine}\n`],
      ["a path out of its tree", `${header}\n${JSON.stringify({ t: "file", tree: "uploads", path: "../escape", size: 0, mtime: 0 })}\n`],
      ["an undeclared tree", `${header}\n${JSON.stringify({ t: "file", tree: "certs", path: "k", size: 0, mtime: 0 })}\n`],
    ];
    const okEnd = JSON.stringify({ t: "end", rows: 1, stores: { s: 1 }, files: 0, fileBytes: 0, sha256: sha(`${header}\n${rowLine}\n`) });
    const f0 = join(freshDir(), "ok.age");
    writeFileSync(f0, await enc.encrypt(`${header}\n${rowLine}\n${okEnd}\n`));
    assert.equal((await verifyBackup(f0, [identity])).manifest.rows, 1); // the crafted base case is valid
    for (const [what, text] of cases) {
      const f = join(freshDir(), "crafted.age");
      writeFileSync(f, await enc.encrypt(text));
      await assert.rejects(verifyBackup(f, [identity]), BackupFormatError, what);
    }
  });

  it("interoperates with the age command-line tool both ways", async () => {
    assert.ok(hasAge(), "the age command is missing: run scripts/ensure-test-deps.sh (npm test does)");
    const { storage, dataDir } = await populated();
    const res = await backup(storage, dataDir);
    const dir = freshDir();
    const keyFile = join(dir, "key.txt");
    writeFileSync(keyFile, `# created: test\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
    const plain = execFileSync("age", ["-d", "-i", keyFile, res.path], { maxBuffer: 64 * 1024 * 1024 });
    assert.ok(plain.toString("latin1").startsWith('{"warblerBackup":1,'));
    assert.ok(plain.includes(BIG));
    // and a file the age CLI encrypted reads back through our decryption
    const reencrypted = join(dir, "by-cli.age");
    execFileSync("age", ["-r", recipient, "-o", reencrypted], { input: plain });
    assert.equal((await verifyBackup(reencrypted, parseIdentities(readFileSync(keyFile, "utf8")))).manifest.files, 2);
  });

  it("parses identity files and refuses anything else", () => {
    assert.deepEqual(parseIdentities(`# c\n\n${identity}\n`), [identity]);
    assert.throws(() => parseIdentities("# nothing\n"), /no key/);
    assert.throws(() => parseIdentities(recipient), /not an age secret key/);
  });

  it("refuses to run without recipients or with a bad one", async () => {
    const { storage, dataDir } = await populated();
    await assert.rejects(createBackup({ storage, dataDir, trees: [], recipients: [], dir: freshDir(), hosts: [] }), /recipient/);
    await assert.rejects(createBackup({ storage, dataDir, trees: [], recipients: ["age1nope"], dir: freshDir(), hosts: [] }), /not an age recipient/);
  });

  it("rotation keeps the newest N and leaves other files alone", async () => {
    const { storage, dataDir } = await populated();
    const dir = freshDir();
    writeFileSync(join(dir, "README"), "not a backup");
    let t = Date.UTC(2026, 0, 1, 3, 0, 0);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      made.push((await backup(storage, dataDir, dir, () => t)).path);
      t += 86_400_000;
    }
    // two in the same second get distinct names
    made.push((await backup(storage, dataDir, dir, () => t - 86_400_000)).path);
    assert.equal((await listBackups(dir)).length, 6);
    const removed = await rotateBackups(dir, 3);
    assert.deepEqual(removed, made.slice(0, 3));
    assert.deepEqual((await listBackups(dir)).map((f) => f.path), [made[3], made[4], made[5]]);
    assert.ok(readdirSync(dir).includes("README"));
    // a crashed backup's temporary file goes once it is a day old, not while it may be in use
    const partial = join(dir, ".warbler-backup-20260101T030000Z.age.partial");
    writeFileSync(partial, "ciphertext");
    await rotateBackups(dir, 3);
    assert.ok(readdirSync(dir).includes(".warbler-backup-20260101T030000Z.age.partial"));
    await rotateBackups(dir, 3, () => Date.now() + 86_400_001);
    assert.ok(!readdirSync(dir).includes(".warbler-backup-20260101T030000Z.age.partial"));
    assert.equal((await listBackups(dir)).length, 3);
  });
});
