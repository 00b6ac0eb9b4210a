// The uploaded files on disk (<dataDir>/uploads): each file is written to a temporary file in the
// same directory (O_EXCL), synced and renamed into place, then its metadata beside it, so a
// partial upload is never visible and an aborted one leaves nothing (XEP-0363 §6).
import { open, readdir, readFile, rename, rm, mkdir, stat } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

/** What is kept beside each file: enough to serve it and to find its owner's record. */
export interface FileMeta {
  id: string;
  /** The uploader's bare JID. */
  owner: string;
  filename: string;
  size: number;
  /** Media type essence, "application/octet-stream" when none was given. */
  contentType: string;
  /** When the upload completed, ms since the epoch. */
  when: number;
}

/** Why writing a body failed; the temporary file is gone in every case. */
export class UploadWriteError extends Error {
  constructor(readonly reason: "too-large" | "too-short" | "aborted") {
    super(reason);
  }
}

const TMP_SUFFIX = ".tmp";
const META_SUFFIX = ".json";

export class FileStore {
  constructor(readonly dir: string) {}

  /** Creates the directory (owner-only) and removes temporary files a crash left behind. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.removeStray(new Set());
  }

  dataPath(id: string): string {
    return join(this.dir, id);
  }

  private metaPath(id: string): string {
    return join(this.dir, id + META_SUFFIX);
  }

  /**
   * Streams exactly `meta.size` bytes from `body` into place, then writes the metadata; the file
   * is served only once both are renamed in. Throws UploadWriteError for a body of the wrong
   * length or a broken connection.
   */
  async write(meta: FileMeta, body: AsyncIterable<Buffer>): Promise<void> {
    const tmp = join(this.dir, `${meta.id}.${randomBytes(6).toString("hex")}${TMP_SUFFIX}`);
    const fh = await open(tmp, "wx", 0o600);
    let done = false;
    try {
      let written = 0;
      try {
        for await (const chunk of body) {
          written += chunk.length;
          if (written > meta.size) throw new UploadWriteError("too-large");
          await fh.write(chunk);
        }
      } catch (err) {
        if (err instanceof UploadWriteError) throw err;
        throw new UploadWriteError("aborted");
      }
      if (written !== meta.size) throw new UploadWriteError("too-short");
      await fh.sync();
      await fh.close();
      await rename(tmp, this.dataPath(meta.id));
      await this.writeMeta(meta);
      done = true;
    } finally {
      if (!done) {
        await fh.close().catch(() => {});
        await rm(tmp, { force: true });
        await rm(this.dataPath(meta.id), { force: true });
      }
    }
  }

  private async writeMeta(meta: FileMeta): Promise<void> {
    const tmp = join(this.dir, `${meta.id}.${randomBytes(6).toString("hex")}${TMP_SUFFIX}`);
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(JSON.stringify(meta));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.metaPath(meta.id));
    // the renames themselves are durable once the directory is synced
    const dh = await open(this.dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /** The metadata of a complete file, or undefined when there is none (or it is unreadable). */
  async meta(id: string): Promise<FileMeta | undefined> {
    try {
      const m = JSON.parse(await readFile(this.metaPath(id), "utf8")) as FileMeta;
      return m.id === id ? m : undefined;
    } catch {
      return undefined;
    }
  }

  /** Deletes a file: its metadata first, so it stops being served before its bytes go. */
  async remove(id: string): Promise<void> {
    await rm(this.metaPath(id), { force: true });
    await rm(this.dataPath(id), { force: true });
  }

  /** Every complete file's metadata. */
  async list(): Promise<FileMeta[]> {
    const out: FileMeta[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(META_SUFFIX)) continue;
      const m = await this.meta(name.slice(0, -META_SUFFIX.length));
      if (m) out.push(m);
    }
    return out;
  }

  /**
   * Removes temporary files and data without metadata (a crash between the two renames) whose
   * upload is not in progress.
   */
  async removeStray(inProgress: ReadonlySet<string>): Promise<number> {
    const names = await readdir(this.dir);
    const metas = new Set(names.filter((n) => n.endsWith(META_SUFFIX)).map((n) => n.slice(0, -META_SUFFIX.length)));
    let removed = 0;
    for (const name of names) {
      const id = name.split(".")[0] ?? "";
      if (inProgress.has(id) || name.endsWith(META_SUFFIX)) continue;
      if (name.endsWith(TMP_SUFFIX) || (!name.includes(".") && !metas.has(name))) {
        const s = await stat(join(this.dir, name)).catch(() => undefined);
        if (s?.isFile()) {
          await rm(join(this.dir, name), { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}
