// Loads the configuration: a YAML file (optional), the WARBLER_DATA_DIR override, validation
// against the schema, and resolution of relative paths.

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, parseConfig, type Config } from "./schema.js";

export { ConfigError, defaultConfig, parseConfig, type Config } from "./schema.js";

/**
 * Reads, validates and completes the configuration.
 *
 * - `path` undefined: the defaults (plus environment overrides).
 * - `env.WARBLER_DATA_DIR`, when set and non-empty, replaces `dataDir`.
 * - Relative paths in the file (dataDir, storage.path, backup.dir, tls.certificates[].cert/key) are
 *   resolved against the file's directory, so the server behaves the same from any working
 *   directory; relative paths from the environment or the defaults against the working directory.
 *   Every path in the result is absolute.
 *
 * Throws {@link ConfigError} listing every problem as `path: message`.
 */
export function loadConfig(path?: string, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown = {};
  let baseDir = process.cwd();
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ConfigError([`${path}: ${code === "ENOENT" ? "file not found" : (e as Error).message}`]);
    }
    try {
      // yaml 2 rejects duplicate keys by default, which catches a whole class of mistakes.
      raw = parseYaml(text) ?? {};
    } catch (e) {
      throw new ConfigError([`${path}: ${(e as Error).message.split("\n")[0]!.replace(/:$/, "")}`]);
    }
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError([`${path}: the top level must be a mapping of keys to values`]);
    }
    baseDir = dirname(resolve(path));
  }
  const dataDirEnv = env.WARBLER_DATA_DIR;
  if (dataDirEnv) raw = { ...(raw as object), dataDir: resolve(dataDirEnv) };
  const config = parseConfig(raw);
  return {
    ...config,
    dataDir: resolve(baseDir, config.dataDir),
    storage: { ...config.storage, path: resolve(baseDir, config.storage.path) },
    backup: { ...config.backup, dir: resolve(baseDir, config.backup.dir) },
    tls: {
      ...config.tls,
      certificates: config.tls.certificates.map((c) => ({ cert: resolve(baseDir, c.cert), key: resolve(baseDir, c.key) })),
    },
  };
}
