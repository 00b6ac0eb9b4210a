// SCRAM credential derivation, password checking and JSON (de)serialization for the account store.
// RFC 5802 §3 (SaltedPassword, StoredKey, ServerKey), RFC 7677 (SHA-256), RFC 8265 §4.2 (OpaqueString).

import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { FullScramCredentials, ScramCredentials, ScramHash, ScramKeys } from "./types.js";

const pbkdf2Async = promisify(pbkdf2);

/** Hash functions supported by SCRAM here, with their Node name and output length in bytes. */
export const SCRAM_HASHES: Readonly<Record<ScramHash, { node: "sha1" | "sha256"; length: number }>> = {
  "SHA-1": { node: "sha1", length: 20 },
  "SHA-256": { node: "sha256", length: 32 },
};

/** Length of the random salt generated for new credentials. */
export const SALT_LENGTH = 16;

/** Upper bound on the iteration count accepted from callers or storage (guards against DoS by config/data error). */
export const MAX_ITERATIONS = 10_000_000;

/** Thrown when a password is not acceptable under the OpaqueString profile. */
export class InvalidPasswordError extends Error {
  constructor(reason: string) {
    super(`invalid password: ${reason}`);
    this.name = "InvalidPasswordError";
  }
}

// RFC 8264 §9.14 "Spaces": Zs other than U+0020 is a "non-ASCII space".
const NON_ASCII_SPACE = /(?! )\p{Zs}/gu;
// RFC 8264 §8/§9 FreeformClass, the code points that end up DISALLOWED (or CONTEXTJ, which we
// reject rather than evaluate): Controls (Cc), PrecisIgnorableProperties (Default_Ignorable_Code_Point,
// Noncharacter_Code_Point), Unassigned (Cn), OldHangulJamo (Hangul_Syllable_Type L/V/T ranges), and
// the "otherwise" bucket relevant here: Cf, Co, Cs, Zl, Zp.
const DISALLOWED =
  /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}\u{1100}-\u{11FF}\u{A960}-\u{A97F}\u{D7B0}-\u{D7FF}]/u;

/**
 * Prepares and enforces a password with the PRECIS OpaqueString profile (RFC 8265 §4.2), the
 * successor of SASLprep that RFC 6120/7622-era XMPP points to. Steps: map non-ASCII spaces to
 * U+0020, normalize to NFC (no width or case mapping), then reject empty strings and code points
 * the FreeformClass disallows. Simplification: the CONTEXTJ/CONTEXTO rules and the RFC 5892
 * exception table are not evaluated; ZWJ/ZWNJ are rejected outright.
 * @throws InvalidPasswordError
 */
export function preparePassword(password: string): string {
  // RFC 8265 §4.2.1: additional mapping rule, then NFC normalization rule.
  const prepared = password.replace(NON_ASCII_SPACE, " ").normalize("NFC");
  // RFC 8265 §4.2.2: a zero-length password is not allowed.
  if (prepared.length === 0) throw new InvalidPasswordError("empty");
  if (DISALLOWED.test(prepared)) throw new InvalidPasswordError("disallowed character");
  return prepared;
}

function assertIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`SCRAM iteration count out of range: ${iterations}`);
  }
}

/** SaltedPassword := Hi(Normalize(password), salt, i) (RFC 5802 §3). `prepared` must already be normalized. */
async function saltedPassword(prepared: string, salt: Buffer, iterations: number, hash: ScramHash): Promise<Buffer> {
  const h = SCRAM_HASHES[hash];
  return pbkdf2Async(Buffer.from(prepared, "utf8"), salt, iterations, h.length, h.node);
}

/** Derives StoredKey and ServerKey from a SaltedPassword (RFC 5802 §3). */
export function keysFromSaltedPassword(salted: Buffer, hash: ScramHash): ScramKeys & { clientKey: Buffer } {
  const node = SCRAM_HASHES[hash].node;
  const clientKey = createHmac(node, salted).update("Client Key").digest();
  const storedKey = createHash(node).update(clientKey).digest();
  const serverKey = createHmac(node, salted).update("Server Key").digest();
  return { clientKey, storedKey, serverKey };
}

/**
 * Derives SCRAM credentials for SHA-1 and SHA-256 from one password, salt and iteration count.
 * The salt defaults to 16 fresh random bytes. PBKDF2 runs on the libuv pool (async), so the
 * event loop stays free while a password is hashed.
 * @throws InvalidPasswordError when the password fails OpaqueString enforcement
 * @throws RangeError when the iteration count is not a sane positive integer
 */
export async function deriveCredentials(password: string, iterations: number, salt?: Buffer): Promise<FullScramCredentials> {
  assertIterations(iterations);
  const prepared = preparePassword(password);
  const s = salt ?? randomBytes(SALT_LENGTH);
  if (s.length === 0) throw new RangeError("SCRAM salt must not be empty");
  const [sha1, sha256] = await Promise.all([
    saltedPassword(prepared, s, iterations, "SHA-1"),
    saltedPassword(prepared, s, iterations, "SHA-256"),
  ]);
  const k1 = keysFromSaltedPassword(sha1, "SHA-1");
  const k256 = keysFromSaltedPassword(sha256, "SHA-256");
  return {
    salt: Buffer.from(s),
    iterations,
    "SHA-1": { storedKey: k1.storedKey, serverKey: k1.serverKey },
    "SHA-256": { storedKey: k256.storedKey, serverKey: k256.serverKey },
  };
}

/**
 * Checks a cleartext password (e.g. from SASL PLAIN) against stored credentials, using their salt
 * and iteration count and the SHA-256 StoredKey (the SHA-1 one for accounts imported with SHA-1
 * keys only); the comparison is constant-time. A password that fails OpaqueString enforcement
 * simply does not match.
 */
export async function verifyPassword(creds: ScramCredentials, password: string): Promise<boolean> {
  let prepared: string;
  try {
    prepared = preparePassword(password);
  } catch {
    return false;
  }
  const hash: ScramHash = creds["SHA-256"] ? "SHA-256" : "SHA-1";
  const expected = creds[hash]?.storedKey;
  if (!expected) return false;
  const salted = await saltedPassword(prepared, creds.salt, creds.iterations, hash);
  const { storedKey } = keysFromSaltedPassword(salted, hash);
  return expected.length === storedKey.length && timingSafeEqual(expected, storedKey);
}

/** JSON-safe form of {@link ScramCredentials}: binary fields as standard base64 strings. */
export interface ScramCredentialsJson {
  salt: string;
  iterations: number;
  "SHA-1"?: { storedKey: string; serverKey: string };
  /** Absent for accounts imported with SHA-1 keys only. */
  "SHA-256"?: { storedKey: string; serverKey: string };
}

/** Serializes credentials for storage. */
export function credentialsToJson(creds: ScramCredentials): ScramCredentialsJson {
  const keys = (k: ScramKeys | undefined) =>
    k ? { storedKey: k.storedKey.toString("base64"), serverKey: k.serverKey.toString("base64") } : undefined;
  const out: ScramCredentialsJson = { salt: creds.salt.toString("base64"), iterations: creds.iterations };
  const k1 = keys(creds["SHA-1"]);
  const k256 = keys(creds["SHA-256"]);
  if (k1) out["SHA-1"] = k1;
  if (k256) out["SHA-256"] = k256;
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical standard base64; undefined for anything else (including non-zero padding bits). */
export function decodeBase64Strict(s: string): Buffer | undefined {
  if (!BASE64.test(s)) return undefined;
  const buf = Buffer.from(s, "base64");
  return buf.toString("base64") === s ? buf : undefined;
}

/**
 * Parses stored credentials back, validating shape, base64 and key lengths.
 * @throws TypeError when the value is not a well-formed {@link ScramCredentialsJson}
 */
export function credentialsFromJson(value: unknown): ScramCredentials {
  const fail = (what: string): never => {
    throw new TypeError(`invalid stored SCRAM credentials: ${what}`);
  };
  if (typeof value !== "object" || value === null) return fail("not an object");
  const v = value as Record<string, unknown>;
  const bin = (x: unknown, what: string, length?: number): Buffer => {
    const buf = typeof x === "string" ? decodeBase64Strict(x) : undefined;
    if (buf === undefined || buf.length === 0) return fail(what);
    if (length !== undefined && buf.length !== length) return fail(`${what} length`);
    return buf;
  };
  const keys = (hash: ScramHash): ScramKeys | undefined => {
    const k = v[hash];
    if (k === undefined) return undefined;
    if (typeof k !== "object" || k === null) return fail(hash);
    const kk = k as Record<string, unknown>;
    const length = SCRAM_HASHES[hash].length;
    return { storedKey: bin(kk.storedKey, `${hash} storedKey`, length), serverKey: bin(kk.serverKey, `${hash} serverKey`, length) };
  };
  const iterations = v.iterations;
  if (typeof iterations !== "number" || !Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    return fail("iterations");
  }
  const salt = bin(v.salt, "salt");
  const sha1 = keys("SHA-1");
  const sha256 = keys("SHA-256");
  if (!sha1 && !sha256) return fail("no keys");
  const out: ScramCredentials = { salt, iterations };
  if (sha1) out["SHA-1"] = sha1;
  if (sha256) out["SHA-256"] = sha256;
  return out;
}
