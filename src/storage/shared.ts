// Pieces every storage backend shares so they behave identically: coded errors, JSON encoding,
// archive id generation (XEP-0359 stanza ids) and the normalised archive query (XEP-0313, XEP-0059).
import { randomBytes } from "node:crypto";
import type { ArchiveQuery, SnapshotRow } from "./types.js";

/** Codes a storage call can fail with; callers map them to protocol errors. */
export type StorageErrorCode =
  /** An RSM `after`/`before` id that is not in the archive (XEP-0059 §2.4). */
  | "item-not-found"
  /** `append` with an id that the owner's archive already holds. */
  | "conflict"
  /** A value that cannot be stored as JSON text (undefined, function, BigInt, cycle). */
  | "bad-value"
  /** An argument out of range (negative limit, non-integer timestamp). */
  | "bad-argument"
  /** The backend was closed. */
  | "closed";

/** The one error type storage throws on purpose; `code` is stable, the message is for logs. */
export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message?: string) {
    super(message ?? code);
    this.name = "StorageError";
    this.code = code;
  }
}

/** What {@link encodeValue} writes before a string it stores as itself. */
export const PLAIN_PREFIX = "=";

/** Whether {@link encodeValue} stores a value as itself, behind {@link PLAIN_PREFIX}. */
export function isPlain(value: unknown): value is string {
  return typeof value === "string" && value.isWellFormed();
}

/**
 * Encodes a value as text. Both backends store text so values come back as copies with the
 * same JSON round-trip rules (Dates become strings, `undefined` properties disappear). A string
 * is stored as itself behind a "=" (JSON text never begins with one), so the commonest large
 * value, a message's XML in the archive, is neither escaped on the way in nor parsed on the way
 * out; a string that is not well-formed UTF-16 (a lone surrogate, which UTF-8 cannot carry) takes
 * the JSON form, as does every other value.
 */
export function encodeValue(value: unknown): string {
  if (isPlain(value)) return PLAIN_PREFIX + value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new StorageError("bad-value", `value is not JSON-serializable: ${(err as Error).message}`);
  }
  if (text === undefined) throw new StorageError("bad-value", "value is not JSON-serializable");
  return text;
}

export function decodeValue<T>(text: string): T {
  return (text.startsWith(PLAIN_PREFIX) ? text.slice(PLAIN_PREFIX.length) : JSON.parse(text)) as T;
}

/** The alphabet of archive ids: base64url's characters in ASCII order (archive-log.ts decodes the time with it). */
export const ARCHIVE_ID_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
/** base64url's own order, in which Buffer#toString("base64url") writes: char code -> 6-bit value. */
const B64URL_VALUE = new Uint8Array(128);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"].entries()) B64URL_VALUE[c.charCodeAt(0)] = i;
/** The last character of an id carries the two low bits of the 16th byte (its other bits are zero). */
const LAST_CHARS = [0, 16, 32, 48].map((v) => ARCHIVE_ID_ALPHABET[v]!);
/** Random base64url text, 14 characters per id. */
let idPool = "";
let idPoolOffset = 0;
let lastTime = -1;
let lastPrefix = "";

/**
 * A fresh archive id, 22 characters for 16 bytes: the archiving time in milliseconds (6 bytes),
 * then 10 random bytes. The 80 random bits make it unguessable, fit for a XEP-0359 stanza id;
 * the time prefix reveals only the archiving time, which the archive shows anyway, and puts ids in
 * order, so a new id lands at the end of its owner's range in the archive's id index instead of
 * on a random page. The alphabet is base64url's, in ASCII order, so text order is time order.
 */
export function newArchiveId(now: number = Date.now()): string {
  if (now !== lastTime) {
    // The 6-byte time as 8 characters of 6 bits, most significant first (made once per millisecond)
    let t = Math.max(0, Math.min(Math.floor(now), 2 ** 48 - 1));
    let prefix = "";
    for (let i = 0; i < 8; i++) {
      prefix = ARCHIVE_ID_ALPHABET[t % 64]! + prefix;
      t = Math.floor(t / 64);
    }
    lastTime = now;
    lastPrefix = prefix;
  }
  // The random part: 13 characters of 6 random bits and 2 bits in the last one, from a pool the
  // CSPRNG fills 292 ids at a time (a call per id showed up at ~4% of server CPU with archiving
  // on). Every base64url character is in the id alphabet; where the bits are random, their order
  // does not matter.
  if (idPoolOffset + 14 > idPool.length) {
    idPool = randomBytes(3072).toString("base64url");
    idPoolOffset = 0;
  }
  const o = idPoolOffset;
  idPoolOffset += 14;
  return lastPrefix + idPool.slice(o, o + 13) + LAST_CHARS[B64URL_VALUE[idPool.charCodeAt(o + 13)]! & 3]!;
}

/** Timestamps are integer milliseconds; anything else would sort differently across backends. */
export function checkTime(name: string, ms: number): number {
  if (!Number.isSafeInteger(ms)) throw new StorageError("bad-argument", `${name} must be an integer of milliseconds`);
  return ms;
}

/** An archive query reduced to what a backend executes. */
export interface NormalizedQuery {
  with: string | undefined;
  start: number | undefined;
  end: number | undefined;
  /** `undefined` = no id filter; `[]` = matches nothing. */
  ids: string[] | undefined;
  /** Anchor ids; `undefined` when absent (an empty `before` is "the last page", not an anchor). */
  after: string | undefined;
  before: string | undefined;
  /** `undefined` = no limit. */
  limit: number | undefined;
  /** Take the last `limit` items of the range instead of the first. */
  fromEnd: boolean;
}

/**
 * Normalises an archive query. XEP-0059 §2.5: an empty `<before/>` asks for the last page, so a
 * `before` given at all (even "") pages from the end, as `reverse` does. An empty `after` is
 * treated as absent (first page): XEP-0059 gives it no meaning and no item has the id "".
 */
export function normalizeQuery(q: ArchiveQuery = {}): NormalizedQuery {
  if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) {
    throw new StorageError("bad-argument", "limit must be a non-negative integer");
  }
  return {
    with: q.with,
    start: q.start === undefined ? undefined : checkTime("start", q.start),
    end: q.end === undefined ? undefined : checkTime("end", q.end),
    ids: q.ids === undefined ? undefined : [...new Set(q.ids)],
    after: q.after === undefined || q.after === "" ? undefined : q.after,
    before: q.before === undefined || q.before === "" ? undefined : q.before,
    limit: q.limit,
    fromEnd: q.reverse === true || q.before !== undefined,
  };
}

/**
 * Orders strings by Unicode code point, which is the byte order of their UTF-8 form: the order
 * SQLite's BINARY collation gives (and PostgreSQL's with COLLATE "C"). JS `<` compares UTF-16
 * units, which differs for characters above U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * Checks a row given to restoreRows (it comes from a backup file): the fields a backend indexes
 * must have their types, and the value must be what encodeValue writes (JSON text, or a string
 * behind "="), so no backend stores what it could not read back.
 */
export function checkRestoredRow(r: SnapshotRow): void {
  const str = (x: unknown): boolean => typeof x === "string";
  const ok =
    r !== null &&
    typeof r === "object" &&
    str(r.store) &&
    str(r.owner) &&
    str(r.value) &&
    (r.shape === "kv"
      ? Number.isSafeInteger(r.updated)
      : r.shape === "map"
        ? str(r.key) && Number.isSafeInteger(r.updated)
        : r.shape === "archive" && str(r.id) && r.id !== "" && str(r.with) && Number.isSafeInteger(r.when));
  if (!ok) throw new StorageError("bad-argument", "malformed row");
  // a value as encodeValue writes it: a string behind "=", or JSON text
  if (r.value.startsWith(PLAIN_PREFIX)) return;
  try {
    JSON.parse(r.value);
  } catch {
    throw new StorageError("bad-value", "row value is neither a stored string nor JSON text");
  }
}
