// The composition root: configuration + logging + storage + core + modules + transports.
// Everything else receives its collaborators from here.
import { mkdir } from "node:fs/promises";
import type { Config } from "./config/schema.js";
import { Core } from "./core/core.js";
import { createLogger, type Logger } from "./core/log.js";
import { openStorage } from "./storage/index.js";
import type { StorageBackend } from "./storage/types.js";
import { loadCertificates, secureContextFor, serverTlsOptions, sniCallback, type CertMap } from "./transport/certs.js";
import { listenC2s, type Listener, type TlsProvider } from "./transport/tcp.js";
import { listenHttp, type UpgradeHandler } from "./transport/http.js";
import { websocketUpgrade } from "./transport/websocket.js";
import { allModules } from "./modules/index.js";
import type { ModuleManifest } from "./core/module.js";
import { startBackupSchedule } from "./core/lifecycle/backup-schedule.js";

export interface RunningServer {
  readonly core: Core;
  readonly config: Config;
  readonly storage: StorageBackend;
  /** Ports actually bound (useful when the configuration says 0). */
  readonly ports: { c2s: number; directTls: number | undefined; https: number | undefined; http: number | undefined; metrics: number | undefined };
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Modules to load instead of the full set (tests). */
  modules?: ModuleManifest<any>[];
  storage?: StorageBackend;
  /** Takes over HTTP upgrades; default: the WebSocket transport (RFC 7395). */
  upgrade?: UpgradeHandler;
}

/** TLS for the listeners: per-host contexts and SNI from the loaded certificates. */
export function tlsProviderFrom(certs: CertMap, defaultHost: string): TlsProvider {
  return {
    contextFor: (host) => secureContextFor(certs, host),
    sniCallback: sniCallback(certs),
    serverOptions: () => serverTlsOptions(certs, certs.has(defaultHost) ? defaultHost : undefined),
  };
}

/**
 * Opens storage and builds the core with its modules, without listening: what the CLI's account
 * commands use, so that deleting an account runs the same lifecycle as in the server.
 */
export async function openCore(config: Config, opts: StartOptions = {}): Promise<{ core: Core; storage: StorageBackend; log: Logger }> {
  const log = opts.log ?? createLogger(config.log);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const storage = opts.storage ?? (await openStorage({ backend: config.storage.backend, path: config.storage.path }));
  const core = new Core({ config, log, storage });
  try {
    await core.loadModules(opts.modules ?? allModules);
  } catch (err) {
    await storage.close();
    throw err;
  }
  return { core, storage, log };
}

/** Starts a server from a validated configuration. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const { core, storage, log } = await openCore(config, opts);
  let certs: Awaited<ReturnType<typeof loadCertificates>>;
  try {
    certs = await loadCertificates(config, log);
  } catch (err) {
    await storage.close();
    throw err;
  }
  const tlsProvider = tlsProviderFrom(certs, config.hosts[0]!);
  const listeners: Listener[] = [];
  let directTls: Listener | undefined;
  let https: Listener | undefined;
  let plain: Listener | undefined;
  let metrics: Listener | undefined;
  const upgrade = opts.upgrade ?? websocketUpgrade(core);
  try {
    listeners.push(await listenC2s(core, tlsProvider, { host: config.c2s.host, port: config.c2s.port, directTls: false }));
    if (config.c2s.directTls.enabled && certs.size > 0) {
      directTls = await listenC2s(core, tlsProvider, { host: config.c2s.host, port: config.c2s.directTls.port, directTls: true });
      listeners.push(directTls);
    }
    if (config.http.enabled && certs.size > 0) {
      https = await listenHttp(core, tlsProvider, { host: config.http.host, port: config.http.port, tls: true, upgrade });
      listeners.push(https);
      core.httpsPort = https.port;
    }
    if (config.http.plain.enabled) {
      plain = await listenHttp(core, tlsProvider, { host: config.http.plain.host, port: config.http.plain.port, tls: false, upgrade });
      listeners.push(plain);
    }
    if (config.metrics.enabled) {
      // Its own listener, so /metrics is never reachable on the public ones.
      metrics = await listenHttp(core, tlsProvider, { host: config.metrics.host, port: config.metrics.port, tls: false, scope: "metrics" });
      listeners.push(metrics);
    }
  } catch (err) {
    for (const l of listeners) await l.close();
    await storage.close();
    throw err;
  }
  await core.started();
  // Scheduled encrypted backups (backup.recipients, backup.intervalHours); off when unconfigured.
  const backups = await startBackupSchedule(config, storage, core.loadedModules().map((m) => m.fileTrees), log).catch(async (err: unknown) => {
    for (const l of listeners) await l.close();
    await core.stop();
    await storage.close();
    throw err;
  });
  log.info({ hosts: config.hosts, modules: core.loadedModules().map((m) => m.name) }, "Warbler started");
  let stopped: Promise<void> | undefined;
  return {
    core,
    config,
    storage,
    ports: { c2s: listeners[0]!.port, directTls: directTls?.port, https: https?.port, http: plain?.port, metrics: metrics?.port },
    stop() {
      stopped ??= (async () => {
        const closing = listeners.map((l) => l.close());
        await backups?.stop(); // aborts a backup in progress before storage closes
        await core.stop();
        // Give the last writes (<system-shutdown/>) a moment to leave before storage closes.
        await new Promise((r) => setTimeout(r, 50));
        await storage.close();
        await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 2000))]);
        log.info("Warbler stopped");
      })();
      return stopped;
    },
  };
}
