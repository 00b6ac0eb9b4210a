// The plaintext inside a Warbler backup (which only ever exists inside the age encryption, see
// backup.ts): JSON lines — a header, every storage row, each file as a line + its raw bytes + a
// hash line — and a closing manifest with counts and a SHA-256 of everything before it.
import { createHash, type Hash } from "node:crypto";
import type { SnapshotRow } from "../../storage/types.js";

/** Version of the plaintext layout; a reader refuses versions it does not know. */
export const BACKUP_FORMAT_VERSION = 1;

/** The first line. */
export interface BackupHeader {
  warblerBackup: typeof BACKUP_FORMAT_VERSION;
  /** ISO 8601 time the snapshot was taken. */
  created: string;
  /** Warbler version that wrote it. */
  server: string;
  /** Storage backend it was taken from (informational: restore works into any backend). */
  backend: string;
  hosts: string[];
  /** File trees under the data directory that follow the rows (names, e.g. "uploads"). */
  trees: string[];
}

/** One file of a tree; its `size` raw bytes follow the line, then a {@link FileEnd} line. */
export interface FileRecord {
  t: "file";
  tree: string;
  /** Relative to the tree, "/"-separated, never "..", "." or empty segments. */
  path: string;
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
}

export interface FileEnd {
  t: "fileEnd";
  sha256: string;
}

/** The last line: what the reader must have seen, and a hash of every byte before this line. */
export interface BackupManifest {
  t: "end";
  rows: number;
  /** Rows per store. */
  stores: Record<string, number>;
  files: number;
  fileBytes: number;
  sha256: string;
}

export type RowRecord = { t: "row" } & SnapshotRow;

/** Thrown for anything wrong inside a decrypted backup. */
export class BackupFormatError extends Error {
  override readonly name = "BackupFormatError";
}

/** Tree names: one plain directory name under the data directory. */
export function isTreeName(s: unknown): s is string {
  return typeof s === "string" && /^[a-z0-9][a-z0-9._-]{0,63}$/.test(s);
}

/** A safe relative path inside a tree (nothing a restore could write outside it through). */
export function isSafeRelativePath(p: unknown): p is string {
  if (typeof p !== "string" || p === "" || p.length > 4096 || p.includes("\0") || p.includes("\\")) return false;
  return p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

/** Serializes one record as a line. */
export function line(record: object): Buffer {
  return Buffer.from(JSON.stringify(record) + "\n", "utf8");
}

/** Longest line accepted (a row holds one stored value; vCards with avatars can be large). */
const MAX_LINE = 64 * 1024 * 1024;

/** A decoded record; a file's `content` must be consumed before the next record is read. */
export type BackupRecord =
  | { kind: "header"; header: BackupHeader }
  | { kind: "row"; row: SnapshotRow }
  | { kind: "file"; file: FileRecord; content: AsyncIterable<Buffer> }
  | { kind: "end"; manifest: BackupManifest };

/**
 * Parses a decrypted backup stream and checks it as it goes: the header first, per-file hashes,
 * and at the end the manifest's counts and its hash of all preceding bytes, with nothing after.
 * A bad stream throws BackupFormatError (the `end` record is only yielded when all is well).
 */
export async function* readBackupRecords(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<BackupRecord> {
  const src = new ByteReader(chunks[Symbol.asyncIterator]());
  const total = createHash("sha256");
  const next = async (): Promise<Record<string, unknown> | undefined> => {
    const l = await src.readLine(MAX_LINE);
    if (l === undefined) return undefined;
    let rec: unknown;
    try {
      rec = JSON.parse(l.toString("utf8"));
    } catch {
      throw new BackupFormatError("a line of the backup is not JSON");
    }
    if (rec === null || typeof rec !== "object" || Array.isArray(rec)) throw new BackupFormatError("a line of the backup is not a record");
    const r = rec as Record<string, unknown>;
    if (r.t !== "end") total.update(l).update("\n");
    return r;
  };

  const first = await next();
  if (first === undefined) throw new BackupFormatError("the backup is empty");
  if (first.warblerBackup !== BACKUP_FORMAT_VERSION) throw new BackupFormatError(`not a Warbler backup of format ${BACKUP_FORMAT_VERSION}`);
  const header = first as unknown as BackupHeader;
  if (!Array.isArray(header.trees) || !header.trees.every(isTreeName)) throw new BackupFormatError("bad tree list in the header");
  yield { kind: "header", header };

  let rows = 0;
  let files = 0;
  let fileBytes = 0;
  const stores: Record<string, number> = {};
  for (;;) {
    const r = await next();
    if (r === undefined) throw new BackupFormatError("the backup ends without its manifest (truncated)");
    if (r.t === "row") {
      const { t: _t, ...row } = r;
      const store = (row as { store?: unknown }).store;
      if (typeof store !== "string") throw new BackupFormatError("a row without a store");
      stores[store] = (stores[store] ?? 0) + 1;
      rows++;
      yield { kind: "row", row: row as unknown as SnapshotRow };
    } else if (r.t === "file") {
      const f = r as unknown as FileRecord;
      if (!header.trees.includes(f.tree) || !isSafeRelativePath(f.path) || !Number.isSafeInteger(f.size) || f.size < 0 || !Number.isSafeInteger(f.mtime)) {
        throw new BackupFormatError("a bad file record");
      }
      const fileHash = createHash("sha256");
      let consumed = false;
      const content = async function* (): AsyncGenerator<Buffer> {
        consumed = true;
        for await (const c of src.readExactly(f.size)) {
          fileHash.update(c);
          total.update(c);
          yield c;
        }
      };
      yield { kind: "file", file: f, content: content() };
      if (!consumed) for await (const _ of content()) void _; // the consumer skipped it
      const end = await next();
      if (end?.t !== "fileEnd" || end.sha256 !== fileHash.digest("hex")) throw new BackupFormatError(`file ${f.tree}/${f.path} does not match its hash`);
      files++;
      fileBytes += f.size;
    } else if (r.t === "end") {
      const m = r as unknown as BackupManifest;
      if (m.sha256 !== total.digest("hex")) throw new BackupFormatError("the backup does not match its manifest hash");
      if (m.rows !== rows || m.files !== files || m.fileBytes !== fileBytes || !sameCounts(m.stores, stores)) {
        throw new BackupFormatError("the backup's counts do not match its manifest");
      }
      if (!(await src.atEnd())) throw new BackupFormatError("data after the manifest");
      yield { kind: "end", manifest: m };
      return;
    } else {
      throw new BackupFormatError(`unknown record type ${JSON.stringify(r.t)}`);
    }
  }
}

function sameCounts(a: unknown, b: Record<string, number>): boolean {
  if (a === null || typeof a !== "object") return false;
  const ak = Object.keys(a).sort();
  const bk = Object.keys(b).sort();
  return ak.length === bk.length && ak.every((k, i) => k === bk[i] && (a as Record<string, unknown>)[k] === b[k]);
}

/** Lines and exact byte counts over a stream of chunks, buffering at most one line. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /** The next line without its "\n"; undefined at the very end. */
  async readLine(max: number): Promise<Buffer | undefined> {
    let from = 0;
    for (;;) {
      const i = this.buf.indexOf(0x0a, from);
      if (i >= 0) {
        const l = this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + 1);
        return l;
      }
      from = this.buf.length;
      if (from > max) throw new BackupFormatError("a line of the backup is too long");
      if (!(await this.fill())) {
        if (this.buf.length === 0) return undefined;
        throw new BackupFormatError("the backup ends inside a line (truncated)");
      }
    }
  }

  async *readExactly(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw new BackupFormatError("the backup ends inside a file (truncated)");
      const take = Math.min(left, this.buf.length);
      const c = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      yield c;
    }
  }

  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) if (!(await this.fill())) return true;
    return false;
  }
}

/** Running hash + counts for the writer side; mirrors what {@link readBackupRecords} checks. */
export class ManifestBuilder {
  private readonly hash: Hash = createHash("sha256");
  rows = 0;
  files = 0;
  fileBytes = 0;
  readonly stores: Record<string, number> = {};

  /** Accounts for bytes written before the manifest line. */
  update(b: Buffer): void {
    this.hash.update(b);
  }

  row(store: string): void {
    this.stores[store] = (this.stores[store] ?? 0) + 1;
    this.rows++;
  }

  file(size: number): void {
    this.files++;
    this.fileBytes += size;
  }

  finish(): BackupManifest {
    return { t: "end", rows: this.rows, stores: this.stores, files: this.files, fileBytes: this.fileBytes, sha256: this.hash.digest("hex") };
  }
}
