// Opens the configured storage backend; the one place that picks SQLite or memory (later
// PostgreSQL). Modules receive stores from the core, never a backend.
import { createMemoryBackend } from "./memory.js";
import { createSqliteBackend } from "./sqlite.js";
import type { StorageBackend } from "./types.js";

export type * from "./types.js";
export { StorageError, type StorageErrorCode } from "./shared.js";
export { createMemoryBackend } from "./memory.js";
export { createSqliteBackend } from "./sqlite.js";
export { sqliteFilesFor } from "./archive-log.js";

/** Storage settings from the server configuration. */
export interface StorageConfig {
  backend: "sqlite" | "memory";
  /** SQLite database file (or ":memory:"); required for "sqlite". */
  path?: string;
  /** Clock override, for tests of retention. */
  now?: () => number;
}

/** Opens the backend `config` names. Data written to it is durable when each call resolves. */
export async function openStorage(config: StorageConfig): Promise<StorageBackend> {
  switch (config.backend) {
    case "memory":
      return createMemoryBackend({ now: config.now });
    case "sqlite":
      if (config.path === undefined || config.path === "") throw new Error('storage backend "sqlite" needs a path');
      return createSqliteBackend({ path: config.path, now: config.now });
    default:
      throw new Error(`unknown storage backend ${JSON.stringify((config as { backend: unknown }).backend)}`);
  }
}
