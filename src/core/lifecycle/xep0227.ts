// XEP-0227 (Portable Import/Export Format) documents: reading files as prosody-migrator and
// ejabberd's export_piefxis write them (XInclude of host and user files, §5), writing Warbler's
// own, and the SCRAM credentials element (urn:xmpp:pie:0#scram) both tools use.
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import { StreamParser } from "../../xml/parser.js";
import { Element, serialize, x } from "../../xml/element.js";
import { SCRAM_HASHES } from "../sasl/credentials.js";
import type { ScramCredentials, ScramHash, ScramKeys } from "../sasl/types.js";

/** XEP-0227's namespace (version 1.1 on). */
export const NS_PIE = "urn:xmpp:pie:0";
/** The namespace of XEP-0227 before 1.1, still accepted on import. */
export const NS_PIE_OLD = "http://www.xmpp.org/extensions/xep-0227.html#ns";
/** SCRAM credentials inside <user/> (XEP-0227 1.1, as Prosody and ejabberd write them). */
export const NS_PIE_SCRAM = "urn:xmpp:pie:0#scram";
/** The archive inside <user/> (Prosody's extension; Warbler writes the same). */
export const NS_PIE_MAM = "urn:xmpp:pie:0#mam";
/** Warbler's account details inside <user/>: the creation date. */
export const NS_WARBLER_ACCOUNT = "urn:xmpp:warbler:account:0";
const NS_XINCLUDE = "http://www.w3.org/2001/XInclude";

/** Largest XEP-0227 file read (archives of busy accounts are big, but bounded). */
export const MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024;

/** Thrown for a file that is not a readable XEP-0227 document. */
export class Xep0227Error extends Error {}

/** True for the XEP-0227 namespace, old or new. */
export function isPieNs(ns: string): boolean {
  return ns === NS_PIE || ns === NS_PIE_OLD;
}

/**
 * Parses one XML document into an element tree with Warbler's own parser (so the same limits:
 * no DTD, no entities, no processing instructions). Comments are not accepted either.
 * @throws Xep0227Error
 */
export function parseDocument(text: string): Element {
  // The parser's fragment mode parses one complete element per write; an XML declaration can
  // only open a document, so it is read here and dropped (UTF-8 is all XMPP knows, RFC 6120 §11.6).
  const body = text.replace(/^\uFEFF?\s*<\?xml\s[^?]*\?>/, "");
  const roots: Element[] = [];
  let error: string | undefined;
  const parser = new StreamParser(
    {
      streamStart: () => {},
      stanza: (el) => {
        roots.push(el);
      },
      streamEnd: () => {},
      error: (err) => {
        error ??= err.message;
      },
    },
    { mode: "fragments", maxStanzaSize: Math.max(body.length + 1024, 4096), maxDepth: 1024 },
  );
  parser.write(body);
  if (error !== undefined) throw new Xep0227Error(`not a well-formed XML document: ${error}`);
  if (roots.length !== 1) throw new Xep0227Error("not an XML document with one root element");
  return roots[0]!;
}

/**
 * Reads a XEP-0227 file and the files it includes (XEP-0227 §5: <xi:include href/> with a
 * relative URI, no 'parse', no 'xpointer'), returning the <server-data/> tree. A file whose root
 * is <host/> or <user/> (a split file given alone) is wrapped accordingly; a <user/> file needs
 * the host, which Prosody's file names carry ("alice@example.com.xml").
 * @throws Xep0227Error
 */
export async function readXep0227File(path: string): Promise<Element> {
  const root = await readIncluding(resolve(path), new Set());
  if (root.name === "server-data" && isPieNs(root.ns)) return root;
  if (root.name === "host" && isPieNs(root.ns)) return x("server-data", { xmlns: NS_PIE }, root);
  if (root.name === "user" && isPieNs(root.ns)) {
    const m = /([^/\\@]+)@([^/\\]+)\.xml$/i.exec(path);
    if (!m) throw new Xep0227Error(`${path}: a <user/> file must be named user@host.xml`);
    return x("server-data", { xmlns: NS_PIE }, x("host", { jid: m[2]! }, root));
  }
  throw new Xep0227Error(`${path}: not a XEP-0227 document (root <${root.name} xmlns='${root.ns}'>)`);
}

async function readIncluding(path: string, seen: Set<string>): Promise<Element> {
  if (seen.has(path)) throw new Xep0227Error(`${path} includes itself`);
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new Xep0227Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (buf.length > MAX_DOCUMENT_BYTES) throw new Xep0227Error(`${path} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
  const root = parseDocument(buf.toString("utf8"));
  await expandIncludes(root, dirname(path), new Set([...seen, path]));
  return root;
}

async function expandIncludes(el: Element, base: string, seen: Set<string>): Promise<void> {
  for (let i = 0; i < el.children.length; i++) {
    const c = el.children[i]!;
    if (typeof c === "string") continue;
    if (c.name === "include" && c.ns === NS_XINCLUDE) {
      const href = c.attrs.href;
      // XEP-0227 §5: relative URIs only are required; anything else is refused, not fetched
      if (!href || c.attrs.parse !== undefined || c.attrs.xpointer !== undefined || /^[a-z][a-z0-9+.-]*:/i.test(href) || isAbsolute(href)) {
        throw new Xep0227Error(`unsupported XInclude: ${serialize(c)}`);
      }
      const target = resolve(base, decodeURIComponent(href));
      if (!target.startsWith(base + sep) && target !== base) throw new Xep0227Error(`XInclude outside the export directory: ${href}`);
      el.children[i] = await readIncluding(target, seen);
    } else {
      await expandIncludes(c, base, seen);
    }
  }
}

/** The XML text of a document, with its declaration. */
export function documentText(root: Element): string {
  return `<?xml version='1.0' encoding='UTF-8'?>\n${serialize(root)}\n`;
}

// ---- SCRAM credentials (XEP-0227 §4.1, urn:xmpp:pie:0#scram) ----

/** The <scram-credentials/> elements for stored credentials, one per hash, values in base64. */
export function scramElements(creds: ScramCredentials): Element[] {
  const out: Element[] = [];
  for (const hash of ["SHA-1", "SHA-256"] as const) {
    const k = creds[hash];
    if (!k) continue;
    out.push(
      x(
        "scram-credentials",
        { xmlns: NS_PIE_SCRAM, mechanism: `SCRAM-${hash}` },
        x("iter-count", null, String(creds.iterations)),
        x("salt", null, creds.salt.toString("base64")),
        x("server-key", null, k.serverKey.toString("base64")),
        x("stored-key", null, k.storedKey.toString("base64")),
      ),
    );
  }
  return out;
}

/**
 * Credentials from a <user/>'s <scram-credentials/> children; undefined when there are none it
 * can use. Prosody writes base64 values; ejabberd 23.01 base64-encodes its base64 text again
 * (values decode to base64 text of the right key length): both are accepted. When the SHA-1
 * and SHA-256 elements disagree on salt or iteration count, only SHA-256 is kept (Warbler keeps
 * one salt per account).
 */
export function credentialsFromUser(user: Element): ScramCredentials | undefined {
  const found: Partial<Record<ScramHash, { salt: Buffer; iterations: number; keys: ScramKeys }>> = {};
  for (const el of user.getChildren("scram-credentials", NS_PIE_SCRAM)) {
    const mech = el.attrs.mechanism;
    const hash: ScramHash | undefined = mech === "SCRAM-SHA-1" ? "SHA-1" : mech === "SCRAM-SHA-256" ? "SHA-256" : undefined;
    if (!hash || found[hash]) continue;
    const parsed = parseScram(el, SCRAM_HASHES[hash].length);
    if (parsed) found[hash] = parsed;
  }
  const s1 = found["SHA-1"];
  const s256 = found["SHA-256"];
  if (s256) {
    const creds: ScramCredentials = { salt: s256.salt, iterations: s256.iterations, "SHA-256": s256.keys };
    if (s1 && s1.iterations === s256.iterations && s1.salt.equals(s256.salt)) creds["SHA-1"] = s1.keys;
    return creds;
  }
  if (s1) return { salt: s1.salt, iterations: s1.iterations, "SHA-1": s1.keys };
  return undefined;
}

function parseScram(el: Element, keyLength: number): { salt: Buffer; iterations: number; keys: ScramKeys } | undefined {
  const text = (name: string) => el.getChildText(name)?.trim() ?? "";
  const iterations = Number(text("iter-count"));
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 10_000_000) return undefined;
  const b64 = (s: string) => (/^[A-Za-z0-9+/]*={0,2}$/.test(s) ? Buffer.from(s, "base64") : undefined);
  const serverKey = b64(text("server-key"));
  const storedKey = b64(text("stored-key"));
  const salt = b64(text("salt"));
  if (!serverKey || !storedKey || !salt || salt.length === 0) return undefined;
  if (serverKey.length === keyLength && storedKey.length === keyLength) return { salt, iterations, keys: { serverKey, storedKey } };
  // COMPAT: ejabberd's export_piefxis encodes every value twice
  const sk2 = b64(serverKey.toString("latin1"));
  const st2 = b64(storedKey.toString("latin1"));
  const salt2 = b64(salt.toString("latin1"));
  if (sk2?.length === keyLength && st2?.length === keyLength && salt2 && salt2.length > 0) {
    return { salt: salt2, iterations, keys: { serverKey: sk2, storedKey: st2 } };
  }
  return undefined;
}

// ---- helpers for modules' handlers ----

const NS_DELAY = "urn:xmpp:delay";
const NS_SID = "urn:xmpp:sid:0";
const NS_MAM_TMP = "urn:xmpp:mam:tmp";

/** A XEP-0082 date-time as ms since the epoch, or undefined. */
export function parseStamp(stamp: string | undefined): number | undefined {
  if (!stamp || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(stamp)) return undefined;
  const ms = Date.parse(stamp);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * A stored message from another server's export, cleaned for storing here: the XEP-0203 delays
 * (their first stamp is returned as `when`) and the old server's XEP-0359 stanza ids and
 * ejabberd's <archived/> for `account` are removed; those are the old server's additions.
 */
export function cleanImportedMessage(message: Element, account: string): { stanza: Element; when: number | undefined } {
  const stanza = message.clone();
  let when: number | undefined;
  stanza.children = stanza.children.filter((c) => {
    if (typeof c === "string") return true;
    if (c.name === "delay" && c.ns === NS_DELAY) {
      when ??= parseStamp(c.attrs.stamp);
      return false;
    }
    if ((c.name === "stanza-id" && c.ns === NS_SID) || (c.name === "archived" && c.ns === NS_MAM_TMP)) return c.attrs.by !== account;
    return true;
  });
  return { stanza, when };
}
