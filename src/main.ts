#!/usr/bin/env node
// The command line: start, adduser, deluser, passwd, invite, check, privacy, backup, restore, export, import. Options are parsed with
// node:util parseArgs; passwords are read without echo from a terminal, or as one line from stdin.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig, ConfigError, type Config } from "./config/load.js";
import { openCore, startServer } from "./server.js";
import { parseJid, type Jid } from "./jid/jid.js";
import { createLogger } from "./core/log.js";
import { checkCertificates } from "./transport/certs.js";
import { readPassword } from "./cli/password.js";
import type { RegisterService } from "./modules/register/register.module.js";
import { StanzaError } from "./core/errors.js";
import { privacyInventory } from "./core/lifecycle/inventory.js";
import { createBackup, fileTrees, parseIdentities, rotateBackups, BackupFormatError, type BackupProgress } from "./core/lifecycle/backup.js";
import { restoreServer, RestoreRefused } from "./core/lifecycle/restore.js";
import { readFile } from "node:fs/promises";
import { exportToFile, formatImportReport, importFile } from "./cli/portable.js";
import { Xep0227Error } from "./core/lifecycle/xep0227.js";

const USAGE = `Usage: warbler <command> [options]

Commands:
  start                    run the server
  adduser <user@host>      create an account (password asked, or read from stdin)
  deluser <user@host>      delete an account and everything it owns
  passwd <user@host>       set a new password
  invite [host]            print a single-use registration invitation (registration.mode: invite)
  check                    validate the configuration and certificates
  privacy                  print what the server stores, why and for how long (Markdown)
  backup                   write an encrypted backup of everything now (to backup.dir), then rotate
  restore <file>           verify a backup and restore it into an empty data directory
  export <user@host>       write the account's data (XEP-0227 + files, .tar.gz) to --out
  import <file>...         import XEP-0227 files (prosody-migrator, ejabberd export_piefxis,
                           Warbler exports); run it while the server is stopped

Options:
  -c, --config <file>      configuration file (default: ./warbler.yaml if it exists)
  -r, --recipient <age1…>  backup: encrypt to this public key (repeatable; default: backup.recipients)
  -i, --identity <file>    restore: age identity file holding the private key (repeatable)
      --force              restore: replace the database and file trees of a non-empty data directory
  -o, --out <file>         export: the archive to write ("-": stdout; default user@host.tar.gz)
      --with-credentials   export: include the SCRAM keys (migration to another server only)
      --merge              import: add data to accounts that exist (default: skip them)
      --rename-host <old=new>  import: take the accounts of host old into host new (repeatable)
  -h, --help               this help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      recipient: { type: "string", short: "r", multiple: true },
      identity: { type: "string", short: "i", multiple: true },
      force: { type: "boolean" },
      out: { type: "string", short: "o" },
      "with-credentials": { type: "boolean" },
      merge: { type: "boolean" },
      "rename-host": { type: "string", multiple: true },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  let config: Config;
  try {
    // ./warbler.yaml is read when it exists and no other file is named
    const path = values.config ?? (existsSync("warbler.yaml") ? "warbler.yaml" : undefined);
    config = loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + "\n");
      return 2;
    }
    throw err;
  }
  switch (command) {
    case "start":
      return runServer(config);
    case "adduser":
    case "passwd":
    case "deluser":
      return accountCommand(command, rest[0], config);
    case "invite":
      return inviteCommand(rest[0] ?? config.hosts[0]!, config);
    case "check":
      return checkCommand(config);
    case "privacy":
      return privacyCommand(config);
    case "backup":
      return backupCommand(config, values.recipient ?? []);
    case "restore":
      return restoreCommand(config, rest[0], values.identity ?? [], values.force === true);
    case "export":
      return exportCommand(rest[0], values.out, values["with-credentials"] === true, config);
    case "import":
      return importCommand(rest, { merge: values.merge === true, rename: values["rename-host"] ?? [] }, config);
    default:
      process.stderr.write(`unknown command: ${command}\n\n${USAGE}`);
      return 2;
  }
}

async function runServer(config: Config): Promise<number> {
  const log = createLogger(config.log);
  const server = await startServer(config, { log });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down");
      server.stop().then(resolve, (err: unknown) => {
        log.error({ err }, "error during shutdown");
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

function accountJid(arg: string | undefined, config: Config): Jid {
  if (!arg) throw new UsageError("an account address user@host is required");
  const j = parseJid(arg.includes("@") ? arg : `${arg}@${config.hosts[0]}`);
  if (j.local === "" || j.resource !== "") throw new UsageError(`not an account address: ${arg}`);
  if (!config.hosts.includes(j.domain)) throw new UsageError(`${j.domain} is not a host of this server`);
  return j;
}

class UsageError extends Error {}

async function accountCommand(command: "adduser" | "passwd" | "deluser", arg: string | undefined, config: Config): Promise<number> {
  const jid = accountJid(arg, config);
  const { core, storage } = await openCore(config, { log: createLogger({ level: "warn" }) });
  try {
    if (command === "deluser") {
      const removed = await core.accounts.delete(jid);
      const total = Object.values(removed).reduce((a, b) => a + b, 0);
      process.stdout.write(`deleted ${jid.bareString}: ${total} records removed\n`);
      for (const [store, n] of Object.entries(removed)) if (n > 0) process.stdout.write(`  ${store}: ${n}\n`);
      return 0;
    }
    const exists = await core.accounts.exists(jid);
    if (command === "adduser" && exists) throw new UsageError(`${jid.bareString} exists already`);
    if (command === "passwd" && !exists) throw new UsageError(`${jid.bareString} does not exist`);
    const password = await readPassword(`Password for ${jid.bareString}: `);
    if ([...password].length < config.registration.minPasswordLength) {
      throw new UsageError(`the password must have at least ${config.registration.minPasswordLength} characters`);
    }
    if (command === "adduser") {
      await core.accounts.create(jid, password);
      await core.events.emit("account/created", { jid });
      process.stdout.write(`created ${jid.bareString}\n`);
    } else {
      await core.accounts.setPassword(jid, password);
      process.stdout.write(`password of ${jid.bareString} changed\n`);
    }
    return 0;
  } finally {
    await storage.close();
  }
}

async function inviteCommand(host: string, config: Config): Promise<number> {
  if (!config.hosts.includes(host)) throw new UsageError(`${host} is not a host of this server`);
  const { core, storage } = await openCore(config, { log: createLogger({ level: "warn" }) });
  try {
    const reg = core.service<RegisterService>("register");
    if (!reg) throw new UsageError("the register module is disabled");
    const token = await reg.createInvite(host);
    process.stdout.write(`${token}\nxmpp:${host}?register;preauth=${token}\n`);
    if (config.registration.mode !== "invite") process.stderr.write(`note: registration.mode is "${config.registration.mode}", not "invite"\n`);
    return 0;
  } finally {
    await storage.close();
  }
}

async function privacyCommand(config: Config): Promise<number> {
  const { core, storage } = await openCore({ ...config, storage: { ...config.storage, backend: "memory" } }, { log: createLogger({ level: "warn" }) });
  try {
    process.stdout.write(privacyInventory(core.storeRegistry(), config));
    return 0;
  } finally {
    await storage.close();
  }
}

/** Progress on stderr: rewritten in place on a terminal, a line every few seconds otherwise. */
function progressPrinter(verb: string): { update(p: BackupProgress): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = "";
  const text = (p: BackupProgress) => `${verb}: ${p.rows.toLocaleString("en")} rows, ${p.files.toLocaleString("en")} files, ${(p.bytes / 1e6).toFixed(1)} MB`;
  return {
    update(p) {
      const t = Date.now();
      if (p.phase !== "done" && t - last < (tty ? 200 : 5000)) return;
      last = t;
      shown = text(p);
      process.stderr.write(tty ? `\r${shown}\x1b[K` : `${shown}\n`);
    },
    done() {
      if (tty && shown) process.stderr.write("\n");
    },
  };
}

async function backupCommand(config: Config, recipientArgs: string[]): Promise<number> {
  const recipients = recipientArgs.length > 0 ? recipientArgs : config.backup.recipients;
  if (recipients.length === 0) throw new UsageError("no recipients: set backup.recipients in the configuration or pass --recipient age1…");
  // Safe while the server runs: the snapshot reads through its own SQLite connection.
  const { core, storage } = await openCore(config, { log: createLogger({ level: "warn" }) });
  const progress = progressPrinter("backup");
  try {
    const result = await createBackup({
      storage,
      dataDir: config.dataDir,
      trees: fileTrees(core.loadedModules().map((m) => m.fileTrees)),
      recipients,
      dir: config.backup.dir,
      hosts: config.hosts,
      onProgress: (p) => progress.update(p),
    });
    progress.done();
    const removed = await rotateBackups(config.backup.dir, config.backup.keep);
    process.stdout.write(`${result.path}\n`);
    process.stderr.write(`backup: ${result.manifest.rows} rows, ${result.manifest.files} files, ${result.bytes} bytes encrypted to ${recipients.length} recipient(s)${removed.length ? `; removed ${removed.length} old backup(s)` : ""}\n`);
    return 0;
  } finally {
    await storage.close();
  }
}

async function restoreCommand(config: Config, file: string | undefined, identityFiles: string[], force: boolean): Promise<number> {
  if (!file) throw new UsageError("restore needs the backup file: warbler restore <file> --identity <keyfile>");
  if (identityFiles.length === 0) throw new UsageError("restore needs --identity <keyfile> (an age identity file, e.g. from age-keygen)");
  const identities: string[] = [];
  for (const f of identityFiles) identities.push(...parseIdentities(await readFile(f, "utf8")));
  let progress = progressPrinter("verify");
  let step = "verify";
  try {
    const { manifest } = await restoreServer({
      config,
      file,
      identities,
      force,
      onProgress: (p) => {
        if (p.step !== step) {
          progress.done();
          step = p.step;
          progress = progressPrinter(p.step);
        }
        progress.update(p);
      },
    });
    progress.done();
    process.stdout.write(`restored ${manifest.rows} rows and ${manifest.files} files into ${config.dataDir}\n`);
    return 0;
  } catch (err) {
    progress.done();
    if (err instanceof RestoreRefused) throw new UsageError(err.message);
    if (err instanceof BackupFormatError) {
      process.stderr.write(`warbler: restore refused: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function exportCommand(arg: string | undefined, out: string | undefined, withCredentials: boolean, config: Config): Promise<number> {
  const jid = accountJid(arg, config);
  const file = out ?? `${jid.bareString}.tar.gz`;
  if (file !== "-" && existsSync(file)) throw new UsageError(`${file} exists already; name another file with --out`);
  const { core, storage } = await openCore(config, { log: createLogger({ level: "warn" }) });
  try {
    if (!(await core.accounts.exists(jid))) throw new UsageError(`${jid.bareString} does not exist`);
    await exportToFile(core, jid, file, withCredentials);
    if (file !== "-") process.stderr.write(`exported ${jid.bareString} to ${file}${withCredentials ? " (with SCRAM keys: keep it safe)" : ""}\n`);
    return 0;
  } finally {
    await storage.close();
  }
}

async function importCommand(files: string[], opts: { merge: boolean; rename: string[] }, config: Config): Promise<number> {
  if (files.length === 0) throw new UsageError("name at least one XEP-0227 file or Warbler export");
  const renameHosts = new Map<string, string>();
  for (const r of opts.rename) {
    const [from, to] = r.split("=");
    if (!from || !to || !config.hosts.includes(to)) throw new UsageError(`--rename-host wants old=new with new a host of this server: ${r}`);
    renameHosts.set(from, to);
  }
  const { core, storage } = await openCore(config, { log: createLogger({ level: "warn" }) });
  let failed = false;
  try {
    for (const f of files) {
      try {
        process.stdout.write(formatImportReport(f, await importFile(core, f, { merge: opts.merge, renameHosts })));
      } catch (err) {
        if (!(err instanceof Xep0227Error)) throw err;
        process.stderr.write(`warbler: ${err.message}\n`);
        failed = true;
      }
    }
    return failed ? 1 : 0;
  } finally {
    await storage.close();
  }
}

async function checkCommand(config: Config): Promise<number> {
  const problems = await checkCertificates(config);
  process.stdout.write(`configuration: ok (hosts: ${config.hosts.join(", ")}; data: ${config.dataDir})\n`);
  if (problems.length === 0) {
    process.stdout.write("certificates: ok\n");
    return 0;
  }
  for (const p of problems) {
    const where = [p.host, p.path].filter(Boolean).join(" ");
    process.stdout.write(`certificates: ${p.severity}: ${where ? where + ": " : ""}${p.message}\n`);
  }
  return problems.some((p) => p.severity === "error") ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof StanzaError) {
      process.stderr.write(`warbler: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`warbler: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
