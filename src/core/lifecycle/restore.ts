// Restoring a whole server from an encrypted backup (backup.ts) into the configured data
// directory: refuse a non-empty one unless forced, verify the entire file first, then write rows
// through the storage backend and files into their trees; on failure remove what was written.
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Config } from "../../config/schema.js";
import { openStorage, sqliteFilesFor } from "../../storage/index.js";
import type { StorageBackend } from "../../storage/types.js";
import { restoreBackup, verifyBackup, type BackupProgress } from "./backup.js";
import type { BackupHeader, BackupManifest } from "./backup-format.js";

/** Why a restore would not start (the CLI shows the message and exits 2). */
export class RestoreRefused extends Error {
  override readonly name = "RestoreRefused";
}

export interface RestoreServerOptions {
  config: Config;
  file: string;
  identities: string[];
  /** Replace the database and the backup's file trees of a non-empty data directory. */
  force?: boolean;
  onProgress?: (p: BackupProgress & { step: "verify" | "restore" }) => void;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The files the SQLite backend keeps: the database, the archive, their WAL and index, log segments. */
function databaseFiles(path: string): string[] {
  return [...new Set([path, `${path}-wal`, `${path}-shm`, ...sqliteFilesFor(path)])];
}

/** Restores the backup `file` into `config.dataDir` / `config.storage`. */
export async function restoreServer(o: RestoreServerOptions): Promise<{ header: BackupHeader; manifest: BackupManifest }> {
  const { config } = o;
  if (config.storage.backend !== "sqlite") throw new RestoreRefused(`storage.backend is "${config.storage.backend}": there is nothing persistent to restore into`);
  const dbPath = config.storage.path;
  // The backup directory may live in the data directory: restoring from it is the usual case.
  const entries = (await readdir(config.dataDir).catch(() => [] as string[])).filter((e) => join(config.dataDir, e) !== config.backup.dir);
  // a database outside the data directory (storage.path) counts too
  for (const f of databaseFiles(dbPath)) if (dirname(f) !== config.dataDir && (await exists(f))) entries.push(f);
  if (entries.length > 0 && !o.force) {
    throw new RestoreRefused(
      `${config.dataDir} is not empty (${entries.slice(0, 5).join(", ")}); restore only into an empty data directory, or pass --force to replace its database and file trees`,
    );
  }

  // Pass 1: decrypt and check everything before touching the data directory.
  const checked = await verifyBackup(o.file, o.identities, (p) => o.onProgress?.({ ...p, step: "verify" }));
  const trees = checked.header.trees.map((t) => join(config.dataDir, t));
  if (o.force) {
    for (const f of databaseFiles(dbPath)) await rm(f, { force: true });
    for (const t of trees) await rm(t, { recursive: true, force: true });
  }

  // Pass 2: write. The stream is authenticated again as it is read.
  let storage: StorageBackend | undefined;
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await mkdir(dirname(dbPath), { recursive: true, mode: 0o700 });
    storage = await openStorage({ backend: "sqlite", path: dbPath });
    const result = await restoreBackup({
      file: o.file,
      identities: o.identities,
      storage,
      dataDir: config.dataDir,
      onProgress: (p) => o.onProgress?.({ ...p, step: "restore" }),
    });
    await storage.close();
    return result;
  } catch (err) {
    await storage?.close().catch(() => {});
    for (const f of databaseFiles(dbPath)) await rm(f, { force: true });
    for (const t of trees) await rm(t, { recursive: true, force: true });
    throw err;
  }
}
