// Starts a real Warbler server on free loopback ports for scenario tests, with its own temporary
// data directory (SQLite by default, as in production) and a generated self-signed certificate.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig, type Config } from "../../src/config/schema.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { createLogger, silentLogger } from "../../src/core/log.js";
import type { Core } from "../../src/core/core.js";
import { jid } from "../../src/jid/jid.js";

export interface TestServer {
  port: number;
  directTlsPort: number;
  /** The HTTPS port (0 when HTTP is off). */
  httpsPort: number;
  /** The plain HTTP port on loopback (0 when off). */
  httpPort: number;
  /** The metrics port on loopback (0 when off). */
  metricsPort: number;
  domain: string;
  core: Core;
  config: Config;
  dataDir: string;
  server: RunningServer;
  /** Creates an account directly in storage (fast; registration itself is tested over XMPP). */
  createAccount(user: string, password: string): Promise<void>;
  /** Stops the server; `keepData` keeps the data directory for a restart. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Starts a server; `overrides` are merged into the test defaults. Pass `dataDir` to restart on old data. */
export async function startTestServer(overrides: DeepPartial<Record<string, unknown>> & { dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), "warbler-test-")));
  const raw = merge(
    {
      hosts: ["localhost"],
      dataDir,
      log: { level: process.env.WARBLER_TEST_LOG ?? "silent" },
      c2s: { host: "127.0.0.1", port: 0, directTls: { enabled: true, port: 0 } },
      http: { host: "127.0.0.1", port: 0, plain: { port: 0 } },
      metrics: { port: 0 },
      auth: { scramIterations: 4096 },
      registration: { minPasswordLength: 4 },
    },
    overrides as Record<string, unknown>,
  );
  const config = parseConfig(raw);
  const log = config.log.level === "silent" ? silentLogger() : createLogger(config.log);
  const server = await startServer(config, { log });
  return {
    port: server.ports.c2s,
    directTlsPort: server.ports.directTls ?? 0,
    httpsPort: server.ports.https ?? 0,
    httpPort: server.ports.http ?? 0,
    metricsPort: server.ports.metrics ?? 0,
    domain: config.hosts[0]!,
    core: server.core,
    config,
    dataDir,
    server,
    createAccount: (user, password) => server.core.accounts.create(jid(user, config.hosts[0]!), password),
    async stop(opts = {}) {
      await server.stop();
      if (!opts.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
