// Encrypted backups: a consistent snapshot of every store plus the data directory's file trees,
// streamed through age (age-encryption.org/v1: X25519 recipients, ChaCha20-Poly1305 STREAM)
// straight into the output file, so no plaintext ever reaches the disk; restore, and rotation.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, unlink, utimes, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Decrypter, Encrypter } from "age-encryption";
import type { SnapshotRow, StorageBackend } from "../../storage/types.js";
import { WARBLER_VERSION } from "../version.js";
import {
  BACKUP_FORMAT_VERSION,
  BackupFormatError,
  ManifestBuilder,
  isSafeRelativePath,
  isTreeName,
  line,
  readBackupRecords,
  type BackupHeader,
  type BackupManifest,
  type BackupRecord,
} from "./backup-format.js";

export { BackupFormatError } from "./backup-format.js";

/**
 * File trees every backup includes when present, besides those modules declare (manifest
 * `fileTrees`): uploads (XEP-0363) live in <dataDir>/uploads. Certificates (<dataDir>/certs) are
 * left out on purpose: generated ones are made anew at start, configured ones belong to their
 * own tooling (ACME), and a TLS private key is better not copied into every backup.
 */
export const DEFAULT_FILE_TREES: readonly string[] = ["uploads"];

/** The trees to back up: the defaults and every module's declaration, deduplicated, in order. */
export function fileTrees(declared: Iterable<readonly string[] | undefined>): string[] {
  const out = new Set<string>(DEFAULT_FILE_TREES);
  for (const list of declared) for (const t of list ?? []) out.add(t);
  for (const t of out) if (!isTreeName(t)) throw new Error(`file tree ${JSON.stringify(t)} is not a plain directory name`);
  return [...out];
}

/** How far a backup or restore has got (for progress lines on stderr). */
export interface BackupProgress {
  phase: "rows" | "files" | "done";
  rows: number;
  files: number;
  /** Plaintext bytes so far (rows and file contents). */
  bytes: number;
}

/** Files are `warbler-backup-<UTC yyyymmddThhmmssZ>[-n].age`; names sort by time. */
const NAME = /^warbler-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\.age$/;

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/** A backup file in the directory, with the time its name carries. */
export interface BackupFile {
  name: string;
  path: string;
  time: number;
}

/** The backups in `dir`, oldest first (only names this code writes; others are left alone). */
export async function listBackups(dir: string): Promise<BackupFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: BackupFile[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m) continue;
    const s = m[1]!;
    const time = Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15));
    out.push({ name, path: join(dir, name), time });
  }
  return out.sort((a, b) => a.time - b.time || suffix(a.name) - suffix(b.name));
}

function suffix(name: string): number {
  return Number(NAME.exec(name)?.[2] ?? 0);
}

/** A temporary file older than this is left over from a crash (a backup never takes a day). */
const STALE_PARTIAL_MS = 86_400_000;

/**
 * Deletes all but the newest `keep` backups in `dir`, and temporary files a crashed backup left
 * (older than a day, so a backup running in another process is not disturbed); returns the
 * backups deleted.
 */
export async function rotateBackups(dir: string, keep: number, now: () => number = Date.now): Promise<string[]> {
  const all = await listBackups(dir);
  const old = all.slice(0, Math.max(0, all.length - Math.max(1, keep)));
  for (const f of old) await rm(f.path, { force: true });
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!PARTIAL.test(name)) continue;
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (st?.isFile() && now() - st.mtimeMs > STALE_PARTIAL_MS) await rm(join(dir, name), { force: true });
  }
  return old.map((f) => f.path);
}

const PARTIAL = /^\.warbler-backup-[0-9TZ-]+\.age\.partial$/;

/** What {@link createBackup} needs. */
export interface CreateBackupOptions {
  storage: StorageBackend;
  dataDir: string;
  /** Tree names under dataDir (see {@link fileTrees}); absent ones are skipped. */
  trees: string[];
  /** age recipients (age1…); at least one. */
  recipients: string[];
  /** Output directory (created 0700 if missing). */
  dir: string;
  hosts: string[];
  now?: () => number;
  onProgress?: (p: BackupProgress) => void;
  /** Aborting stops the backup and removes the partial file. */
  signal?: AbortSignal;
}

export interface BackupResult {
  path: string;
  manifest: BackupManifest;
  /** Size of the encrypted file. */
  bytes: number;
}

/** Plaintext is handed to the encryptor in pieces of about this size. */
const PIECE = 64 * 1024;

/**
 * Writes one encrypted backup. The plaintext is produced on demand (rows from one storage
 * snapshot, then the files) and only ever exists in memory on its way into the age encryptor;
 * the ciphertext goes to a hidden temporary name, is fsynced, and is renamed into place.
 * Files are read after the rows' snapshot: an upload deleted meanwhile is skipped.
 */
export async function createBackup(o: CreateBackupOptions): Promise<BackupResult> {
  if (o.recipients.length === 0) throw new Error("a backup needs at least one recipient (backup.recipients or --recipient)");
  const enc = new Encrypter();
  for (const r of o.recipients) {
    try {
      enc.addRecipient(r);
    } catch (err) {
      throw new Error(`not an age recipient: ${r} (${(err as Error).message})`);
    }
  }
  const now = o.now ?? Date.now;
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  const created = now();
  let name = `warbler-backup-${stamp(created)}.age`;
  const taken = new Set((await listBackups(o.dir)).map((f) => f.name));
  for (let i = 1; taken.has(name); i++) name = `warbler-backup-${stamp(created)}-${i}.age`;
  const final = join(o.dir, name);
  const temp = join(o.dir, `.${name}.partial`);

  const trees: string[] = [];
  for (const t of o.trees) {
    if (!isTreeName(t)) throw new Error(`bad file tree name ${JSON.stringify(t)}`);
    const st = await lstat(join(o.dataDir, t)).catch(() => undefined);
    if (st?.isDirectory()) trees.push(t);
  }
  const header: BackupHeader = {
    warblerBackup: BACKUP_FORMAT_VERSION,
    created: new Date(created).toISOString(),
    server: WARBLER_VERSION,
    backend: o.storage.kind,
    hosts: o.hosts,
    trees,
  };
  const manifest = new ManifestBuilder();
  const progress: BackupProgress = { phase: "rows", rows: 0, files: 0, bytes: 0 };
  let written: BackupManifest | undefined;

  async function* plaintext(): AsyncGenerator<Buffer> {
    let pending: Buffer[] = [];
    let size = 0;
    const put = (b: Buffer): void => {
      manifest.update(b);
      pending.push(b);
      size += b.length;
      progress.bytes += b.length;
    };
    const take = (): Buffer => {
      const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      pending = [];
      size = 0;
      return b;
    };
    put(line(header));
    for await (const row of o.storage.snapshot()) {
      o.signal?.throwIfAborted();
      put(line({ t: "row", ...row }));
      manifest.row(row.store);
      if (++progress.rows % 1000 === 0) o.onProgress?.(progress);
      if (size >= PIECE) yield take();
    }
    progress.phase = "files";
    o.onProgress?.(progress);
    for (const tree of trees) {
      for await (const rel of walk(join(o.dataDir, tree), "")) {
        const fh = await open(join(o.dataDir, tree, rel), "r").catch((err: NodeJS.ErrnoException) => {
          if (err.code === "ENOENT") return undefined; // deleted since the listing
          throw err;
        });
        if (fh === undefined) continue;
        try {
          const st = await fh.stat();
          if (!st.isFile()) continue;
          put(line({ t: "file", tree, path: rel, size: st.size, mtime: Math.trunc(st.mtimeMs) }));
          const h = createHash("sha256");
          for await (const c of readExactly(fh, st.size)) {
            o.signal?.throwIfAborted();
            h.update(c);
            put(c);
            if (size >= PIECE) yield take();
          }
          put(line({ t: "fileEnd", sha256: h.digest("hex") }));
          manifest.file(st.size);
          progress.files++;
          o.onProgress?.(progress);
        } finally {
          await fh.close();
        }
      }
    }
    written = manifest.finish();
    pending.push(line(written)); // not part of its own hash
    yield take();
  }

  const source = plaintext();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await source.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await source.return(undefined);
    },
  });
  const encrypted = await enc.encrypt(stream);
  let fh: FileHandle | undefined;
  let bytes = 0;
  try {
    // PRIVACY: 0600 even though it is ciphertext; "wx" never follows or reuses an existing file.
    fh = await open(temp, "wx", 0o600);
    const reader = encrypted.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      await fh.write(r.value);
      bytes += r.value.byteLength;
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(temp, final);
    await syncDir(o.dir);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    await source.return(undefined).catch(() => {});
    throw err;
  }
  progress.phase = "done";
  o.onProgress?.(progress);
  if (written === undefined) throw new Error("the backup stream ended early");
  return { path: final, manifest: written, bytes };
}

/** Regular files under `dir`, relative "/"-separated paths, sorted; symlinks are not followed. */
async function* walk(dir: string, rel: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(join(dir, rel), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) yield* walk(dir, p);
    else if (e.isFile() && isSafeRelativePath(p)) yield p;
  }
}

/** Exactly `size` bytes from the start of an open file (a file that shrank fails the backup). */
async function* readExactly(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const buf = Buffer.alloc(Math.min(PIECE, size - pos));
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) throw new Error("a file shrank while it was backed up");
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Identities from an age identity file (as age-keygen writes it): one per line, # comments. */
export function parseIdentities(text: string): string[] {
  const ids = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  if (ids.length === 0) throw new Error("the identity file holds no key");
  for (const id of ids) if (!/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(id)) throw new Error("the identity file holds something that is not an age secret key");
  return ids;
}

/** Decrypts a backup file as a stream of records (checked by readBackupRecords). */
async function* decryptRecords(file: string, identities: string[]): AsyncGenerator<BackupRecord> {
  const dec = new Decrypter();
  for (const id of identities) dec.addIdentity(id);
  const fileStream = createReadStream(file, { highWaterMark: PIECE });
  const web = new ReadableStream<Uint8Array>({
    start(controller) {
      fileStream.on("data", (c) => {
        controller.enqueue(new Uint8Array(c as Buffer));
        if ((controller.desiredSize ?? 1) <= 0) fileStream.pause();
      });
      fileStream.on("end", () => controller.close());
      fileStream.on("error", (err) => controller.error(err));
    },
    pull() {
      fileStream.resume();
    },
    cancel() {
      fileStream.destroy();
    },
  }, { highWaterMark: 4 });
  let plain: ReadableStream<Uint8Array>;
  try {
    plain = await dec.decrypt(web);
  } catch (err) {
    fileStream.destroy();
    throw new BackupFormatError(`cannot decrypt the backup: ${(err as Error).message}`);
  }
  const reader = plain.getReader();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch (err) {
        // age authenticates every 64 KiB chunk and the last-chunk flag: tampering or truncation
        throw new BackupFormatError(`the backup is damaged or was altered: ${(err as Error).message}`);
      }
      if (r.done) return;
      yield r.value;
    }
  }
  try {
    yield* readBackupRecords(chunks());
  } finally {
    // also when the consumer stops early (a failed restore): release the file
    fileStream.destroy();
    await reader.cancel().catch(() => {});
  }
}

/** Decrypts and checks a whole backup without writing anything; returns its header and manifest. */
export async function verifyBackup(
  file: string,
  identities: string[],
  onProgress?: (p: BackupProgress) => void,
): Promise<{ header: BackupHeader; manifest: BackupManifest }> {
  let header: BackupHeader | undefined;
  const progress: BackupProgress = { phase: "rows", rows: 0, files: 0, bytes: 0 };
  for await (const rec of decryptRecords(file, identities)) {
    if (rec.kind === "header") header = rec.header;
    else if (rec.kind === "row") {
      if (++progress.rows % 1000 === 0) onProgress?.(progress);
    } else if (rec.kind === "file") {
      progress.phase = "files";
      for await (const c of rec.content) progress.bytes += c.length;
      progress.files++;
      onProgress?.(progress);
    } else {
      progress.phase = "done";
      onProgress?.(progress);
      return { header: header!, manifest: rec.manifest };
    }
  }
  throw new BackupFormatError("the backup ends without its manifest");
}

/** What {@link restoreBackup} needs. */
export interface RestoreOptions {
  file: string;
  identities: string[];
  /** An empty backend (freshly created). */
  storage: StorageBackend;
  /** Where the file trees go; their directories must not exist yet. */
  dataDir: string;
  onProgress?: (p: BackupProgress) => void;
}

/**
 * Restores rows through the storage backend (so any backend can receive them) and files into
 * their trees. Callers verify first ({@link verifyBackup}) and remove what was written if this
 * throws: a damaged stream is only detected where the damage is.
 */
export async function restoreBackup(o: RestoreOptions): Promise<{ header: BackupHeader; manifest: BackupManifest }> {
  const records = decryptRecords(o.file, o.identities);
  const progress: BackupProgress = { phase: "rows", rows: 0, files: 0, bytes: 0 };
  let header: BackupHeader | undefined;
  let held: BackupRecord | undefined; // the first record after the rows
  try {
    const first = await records.next();
    if (first.done || first.value.kind !== "header") throw new BackupFormatError("the backup has no header");
    header = first.value.header;
    async function* rows(): AsyncGenerator<SnapshotRow> {
      for (;;) {
        const r = await records.next();
        if (r.done) return;
        if (r.value.kind !== "row") {
          held = r.value;
          return;
        }
        if (++progress.rows % 1000 === 0) o.onProgress?.(progress);
        yield r.value.row;
      }
    }
    await o.storage.restoreRows(rows());
    progress.phase = "files";
    o.onProgress?.(progress);
    for (let rec = held; ; ) {
      if (rec === undefined) throw new BackupFormatError("the backup ends without its manifest");
      if (rec.kind === "end") {
        progress.phase = "done";
        o.onProgress?.(progress);
        return { header, manifest: rec.manifest };
      }
      if (rec.kind !== "file") throw new BackupFormatError("rows after the files");
      await writeRestoredFile(o.dataDir, rec, progress);
      progress.files++;
      o.onProgress?.(progress);
      const r = await records.next();
      rec = r.done ? undefined : r.value;
    }
  } finally {
    await records.return(undefined);
  }
}

async function writeRestoredFile(dataDir: string, rec: Extract<BackupRecord, { kind: "file" }>, progress: BackupProgress): Promise<void> {
  const { tree, path, mtime } = rec.file;
  const target = join(dataDir, tree, ...path.split("/"));
  await mkdir(join(target, ".."), { recursive: true, mode: 0o700 });
  // "wx": never overwrite or follow something already there
  const fh = await open(target, "wx", 0o600);
  try {
    for await (const c of rec.content) {
      await fh.write(c);
      progress.bytes += c.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await utimes(target, new Date(mtime), new Date(mtime));
}
