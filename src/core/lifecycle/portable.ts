// Account export and import over the modules' XEP-0227 handlers (src/core/portable.ts): one
// account's data as a <server-data/> document plus its files in a gzipped ustar archive, and
// XEP-0227 documents (Prosody, ejabberd, Warbler) imported back, accounts with their SCRAM keys.
import { randomBytes } from "node:crypto";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip, gunzipSync } from "node:zlib";
import type { Core } from "../core.js";
import { JidError, jid as makeJid, parseJid, type Jid } from "../../jid/jid.js";
import { Element, serialize, x } from "../../xml/element.js";
import { deriveCredentials, InvalidPasswordError } from "../sasl/credentials.js";
import { credentialsFromJson } from "../sasl/credentials.js";
import type { ScramCredentials } from "../sasl/types.js";
import type { ExportOptions, ImportResult, PortableFile } from "../portable.js";
import type { KvStore } from "../../storage/types.js";
import { errorSummary } from "../session.js";
import { tarStream, readTar, type TarEntry } from "./tar.js";
import {
  NS_PIE,
  NS_PIE_SCRAM,
  NS_WARBLER_ACCOUNT,
  credentialsFromUser,
  documentText,
  isPieNs,
  parseDocument,
  scramElements,
  Xep0227Error,
} from "./xep0227.js";

/** What the `portable_pending` store keeps per account: unclaimed <user/> children as XML text. */
export type PendingImport = string[];

/** One account's export: the XEP-0227 document and the files that go beside it. */
export interface AccountExport {
  /** <server-data><host><user>…</user></host></server-data> */
  document: Element;
  /** Files by their path inside the archive (files/<module>/<path>). */
  files: Map<string, PortableFile>;
}

export interface AccountExportOptions extends ExportOptions {
  /** Include the SCRAM keys (operators' migrations only; never in a user's own export). */
  credentials: boolean;
}

function pendingStore(core: Core): KvStore<PendingImport> {
  return core.storage.kv<PendingImport>("portable_pending");
}

/**
 * Collects an account's data from every module with a portable handler, plus the account
 * record (creation date; SCRAM keys only when `credentials` is set) and data imported earlier
 * that no module claims yet.
 * @throws StanzaError item-not-found when the account does not exist
 */
export async function exportAccount(core: Core, account: Jid, opts: AccountExportOptions): Promise<AccountExport> {
  const jid = account.bare();
  const rec = await core.accounts.get(jid);
  if (!rec) throw new Xep0227Error(`no such account: ${jid.bareString}`);
  const user = x("user", { name: jid.local });
  user.append(x("account", { xmlns: NS_WARBLER_ACCOUNT, created: rec.created }));
  // PRIVACY: keys leave the server only in an operator's migration export
  if (opts.credentials) for (const el of scramElements(credentialsFromJson(rec.scram))) user.append(el);
  const files = new Map<string, PortableFile>();
  for (const { module, handler } of core.portables()) {
    const part = await handler.export(jid, { purpose: opts.purpose });
    for (const el of part.elements) user.append(el);
    for (const f of part.files ?? []) {
      if (f.path.split("/").some((s) => s === "" || s === "." || s === "..")) throw new Error(`${module} exported an unsafe file path`);
      files.set(`files/${module}/${f.path}`, f);
    }
  }
  for (const xml of (await pendingStore(core).get(jid.bareString)) ?? []) {
    try {
      user.append(parseDocument(xml));
    } catch {
      core.log.warn({ user: jid.bareString }, "unreadable pending import element left out of the export");
    }
  }
  return { document: x("server-data", { xmlns: NS_PIE }, x("host", { jid: jid.domain }, user)), files };
}

/** The archive's name for the XML document of an account. */
export function documentName(account: Jid): string {
  return `${account.local}@${account.domain}.xml`;
}

/**
 * Writes an account's export as a gzipped ustar archive to `out`: `<user>@<host>.xml` (the
 * XEP-0227 document) and `files/<module>/…`. Streams; nothing is written to disk on the way.
 */
export async function writeExportArchive(core: Core, account: Jid, opts: AccountExportOptions, out: Writable): Promise<void> {
  const exp = await exportAccount(core, account, opts);
  const now = Date.now();
  const xml = Buffer.from(documentText(exp.document), "utf8");
  const entries: TarEntry[] = [{ name: documentName(account), size: xml.length, mtime: now, data: xml }];
  for (const [name, f] of exp.files) entries.push({ name, size: f.size, mtime: f.mtime ?? now, data: () => f.open() });
  await pipeline(Readable.from(tarStream(entries)), createGzip(), out);
}

// ---- import ----

/** How one account fared in an import. */
export interface AccountImportReport {
  jid: string;
  status: "created" | "merged" | "skipped";
  /** Why it was skipped, or remarks about the account itself. */
  reason?: string;
  /** Which credentials the account got. */
  credentials?: "scram-sha-1" | "scram-sha-256" | "scram-sha-1+sha-256" | "password" | "none";
  /** What each module imported. */
  modules: Record<string, ImportResult>;
  /** Elements kept for modules that are not loaded ("{ns}name"). */
  pending: string[];
}

export interface ImportReport {
  accounts: AccountImportReport[];
  /** Hosts of the file that are not hosts of this server. */
  skippedHosts: string[];
}

export interface ImportOptions {
  /** Files of a Warbler archive, by archive path. */
  files?: Map<string, Buffer>;
  /** An account that exists already: left alone ("skip", the default), or its data merged in ("merge"; credentials kept). */
  existing?: "skip" | "merge";
  /** Host renames, old domain → a host of this server. */
  renameHosts?: Map<string, string>;
}

const elementKey = (el: Element) => `{${el.ns}}${el.name}`;

/**
 * Imports a XEP-0227 <server-data/> tree: accounts (SCRAM keys kept, plaintext passwords turned
 * into SCRAM keys), then each module's elements, in module load order; elements no loaded module
 * claims are kept in the `portable_pending` store. The server should not be serving the
 * imported accounts meanwhile (modules' caches are not told).
 */
export async function importServerData(core: Core, root: Element, opts: ImportOptions = {}): Promise<ImportReport> {
  const report: ImportReport = { accounts: [], skippedHosts: [] };
  for (const host of root.getChildren("host")) {
    if (!isPieNs(host.ns)) continue;
    const source = host.attrs.jid ?? "";
    const domain = opts.renameHosts?.get(source) ?? source;
    if (!core.isLocalHost(domain)) {
      report.skippedHosts.push(source);
      continue;
    }
    for (const user of host.getChildren("user")) {
      if (!isPieNs(user.ns)) continue;
      report.accounts.push(await importUser(core, domain, user, opts));
    }
  }
  return report;
}

async function importUser(core: Core, domain: string, user: Element, opts: ImportOptions): Promise<AccountImportReport> {
  let jid: Jid;
  try {
    jid = makeJid(user.attrs.name ?? "", domain);
  } catch (err) {
    const reason = err instanceof JidError ? `not a valid user name: ${err.message}` : "not a valid user name";
    return { jid: `${user.attrs.name ?? ""}@${domain}`, status: "skipped", reason, modules: {}, pending: [] };
  }
  const r: AccountImportReport = { jid: jid.bareString, status: "created", modules: {}, pending: [] };
  if (await core.accounts.exists(jid)) {
    if ((opts.existing ?? "skip") === "skip") return { ...r, status: "skipped", reason: "the account exists already" };
    r.status = "merged";
  } else {
    const { creds, kind, note } = await credentialsOf(core, user);
    const created = user.getChild("account", NS_WARBLER_ACCOUNT)?.attrs.created;
    await core.accounts.createWithCredentials(jid, creds, created);
    r.credentials = kind;
    if (note) r.reason = note;
  }

  // Children by the module that claims them; the rest waits in the pending store
  const byModule = new Map<string, Element[]>();
  const pending: Element[] = [];
  for (const child of user.elements()) {
    if (child.ns === NS_PIE_SCRAM || child.ns === NS_WARBLER_ACCOUNT) continue;
    // the pre-1.1 namespace of <offline-messages/> is read as the current one
    if (isPieNs(child.ns)) child.ns = NS_PIE;
    const p = core.portableFor(child.name, child.ns);
    if (!p) {
      pending.push(child);
      continue;
    }
    const list = byModule.get(p.module) ?? [];
    list.push(child);
    byModule.set(p.module, list);
  }
  const fileOf = (module: string) => (path: string) => opts.files?.get(`files/${module}/${path}`);
  for (const { module, handler } of core.portables()) {
    const els = byModule.get(module);
    if (!els) continue;
    try {
      r.modules[module] = await handler.import(jid, els, { file: fileOf(module) });
    } catch (err) {
      r.modules[module] = { imported: 0, notes: [`failed: ${errorSummary(err)}`] };
      core.log.warn({ user: jid.bareString, module, err: errorSummary(err) }, "import failed for a module");
    }
  }
  if (pending.length > 0) {
    const store = pendingStore(core);
    const old = (await store.get(jid.bareString)) ?? [];
    const texts = pending.map((el) => serialize(el));
    await store.set(jid.bareString, [...old, ...texts.filter((t) => !old.includes(t))]);
    r.pending = pending.map(elementKey);
  }
  return r;
}

async function credentialsOf(
  core: Core,
  user: Element,
): Promise<{ creds: ScramCredentials; kind: NonNullable<AccountImportReport["credentials"]>; note?: string }> {
  const scram = credentialsFromUser(user);
  if (scram) {
    const kind = scram["SHA-1"] && scram["SHA-256"] ? "scram-sha-1+sha-256" : scram["SHA-256"] ? "scram-sha-256" : "scram-sha-1";
    return { creds: scram, kind, ...(kind === "scram-sha-1" ? { note: "SHA-1 keys only: logs in with SCRAM-SHA-1 or PLAIN" } : {}) };
  }
  const password = user.attrs.password;
  if (password !== undefined && password !== "") {
    try {
      // PRIVACY: a plaintext password from the file is turned into SCRAM keys and not kept
      return { creds: await deriveCredentials(password, core.config.auth.scramIterations), kind: "password" };
    } catch (err) {
      if (!(err instanceof InvalidPasswordError)) throw err;
    }
  }
  // No usable credentials: a random password nobody knows; the operator sets one with `warbler passwd`
  const creds = await deriveCredentials(randomBytes(24).toString("base64"), core.config.auth.scramIterations);
  return { creds, kind: "none", note: "no usable password or SCRAM keys in the file: set one with `warbler passwd`" };
}

/**
 * Parses an import file's bytes: a XEP-0227 XML document, or a Warbler export archive (gzipped
 * or plain ustar) holding one with its files. XIncludes are resolved only for files read from
 * disk (see readXep0227File).
 * @throws Xep0227Error
 */
export function parseImportBytes(buf: Buffer): { root: Element; files: Map<string, Buffer> } {
  let data = buf;
  if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
  if (data.length >= 512 && data.subarray(257, 262).toString("latin1") === "ustar") {
    const entries = readTar(data);
    const xmlName = [...entries.keys()].find((n) => !n.includes("/") && n.endsWith(".xml"));
    if (!xmlName) throw new Xep0227Error("the archive holds no XEP-0227 document");
    const root = parseDocument(entries.get(xmlName)!.toString("utf8"));
    entries.delete(xmlName);
    return { root, files: entries };
  }
  return { root: parseDocument(data.toString("utf8")), files: new Map() };
}

/**
 * Hands elements waiting in the pending store to modules that claim them now (a module loaded
 * since the import). Runs at start-up; returns how many elements were adopted.
 */
export async function adoptPending(core: Core): Promise<number> {
  if (core.portables().length === 0) return 0;
  const store = pendingStore(core);
  let adopted = 0;
  for (const owner of await store.owners()) {
    const texts = (await store.get(owner)) ?? [];
    const keep: string[] = [];
    const byModule = new Map<string, Element[]>();
    for (const t of texts) {
      let el: Element;
      try {
        el = parseDocument(t);
      } catch {
        keep.push(t);
        continue;
      }
      const p = core.portableFor(el.name, el.ns);
      if (!p) {
        keep.push(t);
        continue;
      }
      byModule.set(p.module, [...(byModule.get(p.module) ?? []), el]);
    }
    if (byModule.size === 0) continue;
    const jid = parseJid(owner);
    for (const { module, handler } of core.portables()) {
      const els = byModule.get(module);
      if (!els) continue;
      try {
        await handler.import(jid, els, { file: () => undefined });
        adopted += els.length;
      } catch (err) {
        keep.push(...els.map((e) => serialize(e)));
        core.log.warn({ user: owner, module, err: errorSummary(err) }, "pending import not adopted");
      }
    }
    await store.set(owner, keep.length > 0 ? keep : undefined);
  }
  return adopted;
}
