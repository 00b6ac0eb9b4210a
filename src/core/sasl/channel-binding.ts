// Channel binding data of a server-side TLS connection, for SCRAM -PLUS.
// RFC 9266 (tls-exporter), RFC 5929 §4 (tls-server-end-point), RFC 5056.

import { createHash, getHashes } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { ChannelBinding } from "./types.js";

/**
 * Reads the channel bindings of an established server-side TLS connection; call it once the
 * handshake has completed. Types are listed strongest first:
 * - `tls-exporter` (RFC 9266 §2): 32 bytes of exported keying material, label
 *   "EXPORTER-Channel-Binding", empty context. Offered only on TLS 1.3, since on TLS 1.2 it is
 *   only safe with the extended master secret (RFC 9266 §3), which Node does not let us check.
 * - `tls-server-end-point` (RFC 5929 §4.1): hash of our certificate's DER, see
 *   {@link endPointHash}. Not offered when our certificate is signed without a single hash
 *   (e.g. Ed25519) or with an algorithm we do not recognize, because the value is undefined then.
 */
export function channelBindingFor(socket: TLSSocket): ChannelBinding {
  const data = new Map<string, Buffer>();
  if (socket.getProtocol() === "TLSv1.3") {
    data.set("tls-exporter", socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)));
  }
  const cert = socket.getCertificate();
  const raw = cert !== null && "raw" in cert ? cert.raw : undefined;
  if (raw !== undefined && raw.length > 0) {
    const hash = endPointHash(raw);
    if (hash !== undefined) data.set("tls-server-end-point", createHash(hash).update(raw).digest());
  }
  return { types: [...data.keys()], get: (type) => data.get(type) };
}

// Signature algorithm OIDs → their hash (RFC 3279, RFC 4055, RFC 5758).
const SIGNATURE_HASH: Record<string, string> = {
  "1.2.840.113549.1.1.4": "md5", // md5WithRSAEncryption
  "1.2.840.113549.1.1.5": "sha1", // sha1WithRSAEncryption
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.1": "sha1", // ecdsa-with-SHA1
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.2.840.10040.4.3": "sha1", // dsa-with-sha1
  "2.16.840.1.101.3.4.3.1": "sha224", // dsa-with-sha224
  "2.16.840.1.101.3.4.3.2": "sha256", // dsa-with-sha256
};
const RSASSA_PSS = "1.2.840.113549.1.1.10";
// Hash algorithm OIDs, for RSASSA-PSS parameters (RFC 4055 §3.1).
const HASH_OID: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.4": "sha224",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/**
 * The hash RFC 5929 §4.1 prescribes for tls-server-end-point over this DER certificate: the
 * signature algorithm's hash, except MD5 and SHA-1 which become SHA-256. Undefined when the
 * algorithm uses no single hash (EdDSA) or is unknown. Node 20's X509Certificate does not expose
 * the signature algorithm, so the outer Certificate SEQUENCE is read directly (RFC 5280 §4.1).
 */
export function endPointHash(der: Buffer): string | undefined {
  try {
    const cert = readTlv(der, 0, 0x30);
    const tbs = readTlv(der, cert.start, 0x30);
    const algId = readTlv(der, tbs.end, 0x30);
    const oidTlv = readTlv(der, algId.start, 0x06);
    const oid = decodeOid(der.subarray(oidTlv.start, oidTlv.end));
    let hash = SIGNATURE_HASH[oid];
    if (oid === RSASSA_PSS) hash = pssHash(der, oidTlv.end, algId.end);
    if (hash === undefined) return undefined;
    if (hash === "md5" || hash === "sha1") hash = "sha256"; // RFC 5929 §4.1
    return getHashes().includes(hash) ? hash : undefined;
  } catch {
    return undefined;
  }
}

/** RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] HashAlgorithm DEFAULT sha1, ... } */
function pssHash(der: Buffer, offset: number, end: number): string | undefined {
  if (offset >= end) return "sha1";
  const params = readTlv(der, offset, 0x30);
  if (params.start >= params.end || der[params.start] !== 0xa0) return "sha1";
  const explicit = readTlv(der, params.start, 0xa0);
  const alg = readTlv(der, explicit.start, 0x30);
  const oid = readTlv(der, alg.start, 0x06);
  return HASH_OID[decodeOid(der.subarray(oid.start, oid.end))];
}

/** Reads one DER TLV with the expected tag at `offset`; returns the content bounds. */
function readTlv(der: Buffer, offset: number, tag: number): { start: number; end: number } {
  if (der[offset] !== tag) throw new Error("unexpected DER tag");
  let pos = offset + 1;
  const first = der[pos++];
  if (first === undefined) throw new Error("truncated DER");
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    length = 0;
    for (let i = 0; i < n; i++) {
      const b = der[pos++];
      if (b === undefined) throw new Error("truncated DER");
      length = length * 256 + b;
    }
  }
  if (pos + length > der.length) throw new Error("truncated DER");
  return { start: pos, end: pos + length };
}

function decodeOid(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift();
  if (first === undefined) throw new Error("empty OID");
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join(".");
}
