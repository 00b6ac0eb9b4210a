// TLS certificates: loads configured PEM pairs, matches them to served hosts (RFC 6125 DNS-IDs,
// one-level wildcards), generates self-signed ones with the openssl CLI, checks them for the CLI,
// and builds SNI-aware secure contexts (RFC 6066 §3, RFC 7590 for XMPP's use of TLS).

import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { domainToASCII, domainToUnicode } from "node:url";
import { promisify } from "node:util";
import type { Config } from "../config/schema.js";
import type { Logger } from "../core/log.js";

const execFileAsync = promisify(execFile);

/** A certificate ready for use, with the facts the server and the `check` command need. */
export interface CertEntry {
  /** PEM chain (leaf first) and PEM private key. */
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  /** DNS names (and IP addresses) the leaf certificate is valid for, from subjectAltName. */
  names: string[];
  notAfter: Date;
  /** True when Warbler generated it. */
  selfSigned: boolean;
}

/** Served host (as in `config.hosts`) → its certificate. */
export type CertMap = Map<string, CertEntry>;

/** One finding of {@link checkCertificates}. */
export interface CertProblem {
  severity: "error" | "warning";
  host?: string;
  path?: string;
  message: string;
}

type CertConfig = Pick<Config, "hosts" | "dataDir" | "tls">;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Self-signed certificates are replaced when they have less than this left. */
const RENEW_BEFORE_MS = 7 * DAY_MS;
/** `check` warns when a configured certificate has less than this left (certbot renews at 30). */
const WARN_BEFORE_MS = 14 * DAY_MS;
const SELF_SIGNED_DAYS = 825;

interface ParsedPair {
  entry: CertEntry;
  x509: X509Certificate;
  notBefore: Date;
  keyMatches: boolean;
}

/** Reads and parses a PEM pair; throws with a readable message when a file is missing or bad. */
async function readPair(certPath: string, keyPath: string, selfSigned: boolean): Promise<ParsedPair> {
  const [cert, key] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert); // the first certificate of a chain is the leaf
  } catch (e) {
    throw new Error(`${certPath}: not a PEM certificate (${(e as Error).message})`);
  }
  let keyMatches: boolean;
  try {
    keyMatches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw new Error(`${keyPath}: not a PEM private key (${(e as Error).message})`);
  }
  return {
    entry: { cert, key, certPath, keyPath, names: certNames(x509), notAfter: new Date(x509.validTo), selfSigned },
    x509,
    notBefore: new Date(x509.validFrom),
    keyMatches,
  };
}

/** subjectAltName DNS and IP entries; the subject CN only when there are none (RFC 6125 §6.4.4). */
function certNames(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const part of (x509.subjectAltName ?? "").split(", ")) {
    const m = /^(DNS|IP Address):(.+)$/.exec(part);
    if (m) names.push(m[2]!.toLowerCase());
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject);
    if (cn) names.push(cn[1]!.toLowerCase());
  }
  return names;
}

/** The form a host takes in a certificate: A-labels, IP literals without brackets. */
function certHostForm(host: string): string {
  if (host.startsWith("[")) return host.slice(1, -1);
  return isIP(host) ? host : domainToASCII(host) || host;
}

/** Which name of the certificate covers `host`, if any (one-level wildcards, RFC 6125 §6.4.3). */
function matchHost(x509: X509Certificate, host: string): string | undefined {
  const h = certHostForm(host);
  if (isIP(h)) return x509.checkIP(h);
  return x509.checkHost(h, { wildcards: true, partialWildcards: false, multiLabelWildcards: false, subject: "default" });
}

function fileNameFor(host: string): string {
  return certHostForm(host).replace(/[^a-z0-9.-]/gi, "_");
}

/** Generates a self-signed EC P-256 certificate for `host` (files written, then renamed into place). */
async function generateSelfSigned(host: string, certPath: string, keyPath: string): Promise<void> {
  const name = certHostForm(host);
  const san = isIP(name) ? `IP:${name}` : `DNS:${name}`;
  const subject = name.length <= 64 ? `/CN=${name}` : "/O=Warbler"; // X.520: CN is at most 64 characters
  const tmpCert = `${certPath}.tmp-${process.pid}`;
  const tmpKey = `${keyPath}.tmp-${process.pid}`;
  try {
    await execFileAsync(
      "openssl",
      [
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", tmpKey, "-out", tmpCert, "-days", String(SELF_SIGNED_DAYS), "-subj", subject,
        "-addext", `subjectAltName=${san}`,
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "extendedKeyUsage=serverAuth",
      ],
      { timeout: 30_000 },
    );
    await chmod(tmpKey, 0o600); // PRIVACY: the private key is readable by the server's user only
    // Key first: if we stop between the renames, the pair mismatches and is regenerated.
    await rename(tmpKey, keyPath);
    await rename(tmpCert, certPath);
  } catch (e) {
    await Promise.all([rm(tmpCert, { force: true }), rm(tmpKey, { force: true })]);
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("the openssl command is needed to generate self-signed certificates; install it or configure tls.certificates");
    }
    throw e;
  }
}

/** Returns the self-signed certificate for `host`, reusing the stored one while it stays valid. */
async function ensureSelfSigned(host: string, dir: string, log: Logger, now: Date): Promise<CertEntry> {
  const base = join(dir, fileNameFor(host));
  const certPath = `${base}.crt`;
  const keyPath = `${base}.key`;
  try {
    const p = await readPair(certPath, keyPath, true);
    if (p.keyMatches && matchHost(p.x509, host) && p.entry.notAfter.getTime() - now.getTime() > RENEW_BEFORE_MS) {
      return p.entry;
    }
    log.info({ host, certPath }, "self-signed certificate expiring or not matching; regenerating");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") log.warn({ host, err: e }, "stored self-signed certificate unreadable; regenerating");
  }
  await generateSelfSigned(host, certPath, keyPath);
  log.info({ host, certPath }, "generated a self-signed certificate");
  return (await readPair(certPath, keyPath, true)).entry;
}

/** Picks the best certificate for `host`: exact names before wildcards, then the longest-lived. */
function pickFor(host: string, pairs: ParsedPair[]): ParsedPair | undefined {
  const h = certHostForm(host);
  let best: ParsedPair | undefined;
  let bestExact = false;
  for (const p of pairs) {
    const matched = matchHost(p.x509, host);
    if (matched === undefined) continue;
    const exact = matched.toLowerCase() === h;
    if (!best || (exact && !bestExact) || (exact === bestExact && p.entry.notAfter > best.entry.notAfter)) {
      best = p;
      bestExact = exact;
    }
  }
  return best;
}

/**
 * Loads the configured certificates and assigns one to each served host; hosts left without one
 * get a self-signed certificate in `<dataDir>/certs` when `tls.selfSigned` is on. Unusable pairs
 * (unreadable, expired, key mismatch) are logged and skipped.
 */
export async function loadCertificates(config: CertConfig, log: Logger, now = new Date()): Promise<CertMap> {
  const usable: ParsedPair[] = [];
  for (const { cert, key } of config.tls.certificates) {
    try {
      const p = await readPair(cert, key, false);
      if (!p.keyMatches) log.error({ cert, key }, "private key does not match certificate; skipped");
      else if (p.entry.notAfter <= now) log.error({ cert, notAfter: p.entry.notAfter }, "certificate expired; skipped");
      else usable.push(p);
    } catch (e) {
      log.error({ cert, key, err: e }, "cannot read certificate; skipped");
    }
  }
  const certs: CertMap = new Map();
  const dir = join(config.dataDir, "certs");
  for (const host of config.hosts) {
    const picked = pickFor(host, usable);
    if (picked) {
      certs.set(host, picked.entry);
    } else if (config.tls.selfSigned) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      certs.set(host, await ensureSelfSigned(host, dir, log, now));
    } else {
      log.error({ host }, "no certificate covers this host and tls.selfSigned is off");
    }
  }
  return certs;
}

/**
 * Finds what is wrong with the TLS setup without changing anything (for `warbler check`):
 * unreadable or expired certificates, key/certificate mismatches, hosts no certificate covers.
 */
export async function checkCertificates(config: CertConfig, now = new Date()): Promise<CertProblem[]> {
  const problems: CertProblem[] = [];
  const usable: ParsedPair[] = [];
  for (const { cert, key } of config.tls.certificates) {
    let p: ParsedPair;
    try {
      p = await readPair(cert, key, false);
    } catch (e) {
      problems.push({ severity: "error", path: cert, message: (e as Error).message });
      continue;
    }
    const left = p.entry.notAfter.getTime() - now.getTime();
    let ok = true;
    if (!p.keyMatches) {
      problems.push({ severity: "error", path: key, message: `private key does not match certificate ${cert}` });
      ok = false;
    }
    if (left <= 0) {
      problems.push({ severity: "error", path: cert, message: `expired on ${p.entry.notAfter.toISOString()}` });
      ok = false;
    } else if (left < WARN_BEFORE_MS) {
      problems.push({ severity: "warning", path: cert, message: `expires on ${p.entry.notAfter.toISOString()}` });
    }
    if (p.notBefore > now) problems.push({ severity: "error", path: cert, message: `not valid before ${p.notBefore.toISOString()}` });
    if (!config.hosts.some((h) => matchHost(p.x509, h))) {
      problems.push({ severity: "warning", path: cert, message: `covers none of the served hosts (names: ${p.entry.names.join(", ")})` });
    }
    if (ok) usable.push(p);
  }
  for (const host of config.hosts) {
    if (pickFor(host, usable)) continue;
    if (config.tls.selfSigned) {
      problems.push({ severity: "warning", host, message: "no certificate covers this host; a self-signed one is used and clients will not trust it" });
    } else {
      problems.push({ severity: "error", host, message: "no valid certificate covers this host (hostname mismatch) and tls.selfSigned is off" });
    }
  }
  return problems;
}

const contexts = new WeakMap<CertEntry, SecureContext>();

function contextOf(entry: CertEntry): SecureContext {
  let ctx = contexts.get(entry);
  if (!ctx) {
    // RFC 9325 §3.1.1: TLS 1.2 or later only.
    ctx = createSecureContext({ cert: entry.cert, key: entry.key, minVersion: "TLSv1.2" });
    contexts.set(entry, ctx);
  }
  return ctx;
}

/**
 * The secure context for a served host, or undefined when it is not served. `host` may be an
 * SNI server name (A-labels, any case). Contexts are cached per certificate entry, so replacing
 * an entry in the map (certificate reload) takes effect on the next handshake.
 */
export function secureContextFor(certs: CertMap, host: string): SecureContext | undefined {
  const lower = host.toLowerCase();
  const entry = certs.get(lower) ?? certs.get(domainToUnicode(lower)) ?? (lower.includes(":") ? certs.get(`[${lower}]`) : undefined);
  return entry ? contextOf(entry) : undefined;
}

/** An SNICallback (RFC 6066 §3): unknown names fall back to the server's default context. */
export function sniCallback(certs: CertMap): (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void {
  return (servername, cb) => {
    try {
      cb(null, secureContextFor(certs, servername));
    } catch (e) {
      cb(e as Error);
    }
  };
}

/**
 * Options for `tls.createServer` or a server-side `tls.TLSSocket` (STARTTLS): the default
 * certificate (`defaultHost`, else the first host) plus SNI selection among the others.
 */
export function serverTlsOptions(
  certs: CertMap,
  defaultHost?: string,
): { cert: string; key: string; minVersion: "TLSv1.2"; SNICallback: ReturnType<typeof sniCallback> } {
  const entry = defaultHost !== undefined ? certs.get(defaultHost) : certs.values().next().value;
  if (!entry) throw new Error(defaultHost !== undefined ? `no certificate for ${defaultHost}` : "no TLS certificate available");
  return { cert: entry.cert, key: entry.key, minVersion: "TLSv1.2", SNICallback: sniCallback(certs) };
}
