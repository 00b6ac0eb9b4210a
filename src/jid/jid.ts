// JIDs: parsing, preparation and comparison of XMPP addresses (RFC 7622), with the PRECIS
// profiles it names (RFC 8264 classes, RFC 8265 UsernameCaseMapped and OpaqueString) and the
// IDNA2008 domain rules (RFC 5890-5892) approximated through WHATWG `domainToASCII`.

import { domainToASCII, domainToUnicode } from "node:url";
import { isIPv6 } from "node:net";

/**
 * Approximation notes (read before trusting this as a full PRECIS implementation):
 * - PRECIS derives each code point's class from Unicode tables; here the classes are rebuilt from
 *   the engine's Unicode property escapes: LetterDigits = Ll Lu Lo Lm Mn Mc Nd, HasCompat =
 *   `NFKC(cp) !== cp`, Ignorable = Default_Ignorable_Code_Point, Unassigned = Cn. The Unicode
 *   version is the one of the running V8/ICU, not the PRECIS baseline (6.3).
 * - The contextual rules (RFC 5892 Appendix A) are implemented for the CONTEXTO code points; the
 *   CONTEXTJ joiners (ZWJ/ZWNJ) are rejected outright, as we cannot ask for a Virama
 *   (Canonical_Combining_Class=9) from a regex.
 * - The Bidi Rule (RFC 5893) that RFC 8265 §3.3.3 applies to localparts is not checked.
 * - Width mapping maps only U+FF01-U+FF5E (fullwidth ASCII) to ASCII, plus the halfwidth/
 *   fullwidth forms NFKC maps inside U+FF61-U+FFEF, not every <wide>/<narrow> decomposition.
 * - Domain labels go through WHATWG UTS #46 (`domainToASCII`) after our own IDNA2008-style code
 *   point check; UTS #46 is more lenient than IDNA2008, which is why the check comes first.
 */

/** Which part of a JID an error is about. */
export type JidPart = "local" | "domain" | "resource" | "jid";

/** Thrown for any input that is not a valid JID (maps to the `jid-malformed` stanza/stream error). */
export class JidError extends Error {
  override readonly name = "JidError";
  constructor(
    readonly part: JidPart,
    message: string,
  ) {
    super(`${part}: ${message}`);
  }
}

/** RFC 7622 §3.1: every part is limited to 1023 octets of UTF-8 after preparation. */
const MAX_PART_BYTES = 1023;
/** Cheap upper bound for a whole JID string (three parts plus two separators). */
const MAX_JID_CHARS = 3 * MAX_PART_BYTES + 2;

// Fast paths: strings made of these characters are already in their prepared form.
const FAST_LOCAL = /^[a-z0-9._-]+$/;
const FAST_DOMAIN = /^[a-z0-9.-]+$/;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const PRINTABLE_ASCII_OR_SPACE = /^[\x20-\x7e]+$/;
// RFC 7622 §3.3.1: characters a localpart must not contain even though PRECIS allows them.
const LOCAL_FORBIDDEN = /["&'/:<>@]/;

// RFC 8264 §9.1 LetterDigits (Ll Lu Lo Lm Mn Mc Nd) — PVALID in IdentifierClass.
const LETTER_DIGIT = /^[\p{Ll}\p{Lu}\p{Lo}\p{Lm}\p{Mn}\p{Mc}\p{Nd}]$/u;
// RFC 8264 §9.6 Exceptions: PVALID code points outside LetterDigits (IdentifierClass).
const EXCEPTION_PVALID = /^[\u06fd\u06fe\u0f0b\u3007]$/u;
// RFC 8264 §9.6 Exceptions DISALLOWED in both classes (RFC 5892 §2.6).
const EXCEPTION_DISALLOWED = /^[\u0640\u07fa\u302e\u302f\u3031-\u3035\u303b]$/u;
// RFC 8264 §9.9 OldHangulJamo, §9.13 Ignorable, §9.14 Unassigned, §9.12 Controls; also
// surrogates, private use and other format characters, which no PRECIS category makes valid.
const ALWAYS_DISALLOWED =
  /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]$/u;
// RFC 5892 Appendix A code points whose validity depends on their neighbours (CONTEXTO).
const CONTEXTO = /[\u00b7\u0375\u05f3\u05f4\u30fb\u0660-\u0669\u06f0-\u06f9]/u;
const NON_ASCII_SPACE = /[\p{Zs}]/gu;
const FULLWIDTH = /[\uff01-\uff5e\uff61-\uffef]/g;

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** RFC 8265 §3.3.2 step 1 width mapping (approximation: see the notes at the top). */
function widthMap(s: string): string {
  return s.replace(FULLWIDTH, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff5e ? String.fromCharCode(code - 0xfee0) : c.normalize("NFKC");
  });
}

/** RFC 5892 Appendix A.3-A.9: the CONTEXTO rules, checked on the whole prepared string. */
function contextOk(cps: string[]): boolean {
  let arabicIndic = false;
  let extArabicIndic = false;
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === "\u00b7") {
      // A.3 MIDDLE DOT: only between two "l" (Catalan ela geminada).
      if (cps[i - 1] !== "l" || cps[i + 1] !== "l") return false;
    } else if (c === "\u0375") {
      // A.4 GREEK LOWER NUMERAL SIGN: must be followed by a Greek character.
      if (!/\p{Script=Greek}/u.test(cps[i + 1] ?? "")) return false;
    } else if (c === "\u05f3" || c === "\u05f4") {
      // A.5/A.6 HEBREW GERESH/GERSHAYIM: must follow a Hebrew character.
      if (!/\p{Script=Hebrew}/u.test(cps[i - 1] ?? "")) return false;
    } else if (c === "\u30fb") {
      // A.7 KATAKANA MIDDLE DOT: the label must contain Hiragana, Katakana or Han.
      if (!cps.some((x) => x !== "\u30fb" && /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u.test(x))) return false;
    } else if (c >= "\u0660" && c <= "\u0669") {
      arabicIndic = true; // A.8
    } else if (c >= "\u06f0" && c <= "\u06f9") {
      extArabicIndic = true; // A.9
    }
  }
  // A.8/A.9: the two sets of Arabic-Indic digits must not be mixed.
  return !(arabicIndic && extArabicIndic);
}

/** IdentifierClass membership of one non-ASCII code point (RFC 8264 §4.2, §8). */
function identifierValid(c: string): boolean {
  if (EXCEPTION_DISALLOWED.test(c) || ALWAYS_DISALLOWED.test(c)) return false;
  // CONTEXTO code points are valid here; contextOk() then checks their neighbours.
  if (EXCEPTION_PVALID.test(c) || CONTEXTO.test(c)) return true;
  // RFC 8264 §9.17 HasCompat: IdentifierClass disallows compatibility characters.
  return LETTER_DIGIT.test(c) && c.normalize("NFKC") === c;
}

/**
 * Prepares and enforces a localpart: PRECIS UsernameCaseMapped (RFC 8265 §3.3) plus the
 * characters RFC 7622 §3.3.1 forbids. Returns the normalized form or throws {@link JidError}.
 */
export function prepLocal(s: string): string {
  if (FAST_LOCAL.test(s) && s.length <= MAX_PART_BYTES) return s;
  if (s.length === 0) throw new JidError("local", "empty localpart"); // RFC 7622 §3.3
  if (s.length > MAX_PART_BYTES) throw new JidError("local", "longer than 1023 octets");
  let out: string;
  if (PRINTABLE_ASCII.test(s)) {
    // ASCII7 is PVALID in IdentifierClass (RFC 8264 §9.11); only case mapping applies.
    out = s.toLowerCase();
  } else {
    // RFC 8265 §3.3.2: width mapping, case mapping (toLowerCase), NFC.
    out = widthMap(s).toLowerCase().normalize("NFC");
    const cps = Array.from(out);
    for (const c of cps) {
      if (c.charCodeAt(0) < 0x80) {
        // RFC 8264 §9.11: ASCII7 is only U+0021-U+007E; space and controls are disallowed.
        if (c < "\x21" || c > "\x7e") throw new JidError("local", "contains a space or control character");
      } else if (!identifierValid(c)) {
        throw new JidError("local", `code point U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} is not allowed`);
      }
    }
    if (!contextOk(cps)) throw new JidError("local", "contextual rule violated (RFC 5892 Appendix A)");
    if (utf8Length(out) > MAX_PART_BYTES) throw new JidError("local", "longer than 1023 octets");
  }
  // RFC 7622 §3.3.1: " & ' / : < > @ are disallowed in localparts.
  if (LOCAL_FORBIDDEN.test(out)) throw new JidError("local", `contains a character forbidden by RFC 7622 §3.3.1`);
  if (out.length === 0) throw new JidError("local", "empty localpart");
  return out;
}

// RFC 3986 §3.2.2 IPv4address: four dec-octets without leading zeros.
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const DIGITS_AND_DOTS = /^[0-9.]+$/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/** Checks the A-label (ASCII) form of a domain name: LDH labels of 1-63 octets (RFC 5890 §2.3.1). */
function checkAsciiLabels(ascii: string): void {
  if (DIGITS_AND_DOTS.test(ascii)) {
    // All-numeric names are IPv4 literals or nothing (RFC 3696 §2: no all-numeric TLD).
    if (!IPV4.test(ascii)) throw new JidError("domain", "not a valid IPv4 address");
    return;
  }
  for (const label of ascii.split(".")) {
    if (label.length === 0) throw new JidError("domain", "empty label");
    if (label.length > 63) throw new JidError("domain", "label longer than 63 octets"); // RFC 1035 §2.3.4
    if (!LDH_LABEL.test(label)) throw new JidError("domain", "label is not letters, digits and inner hyphens");
  }
}

/**
 * Prepares and enforces a domainpart (RFC 7622 §3.2): IP literals are kept (lowercased),
 * names are width-mapped, lowercased, NFC-normalized, stripped of one trailing dot, checked
 * against IDNA2008 and returned in U-label form (A-labels are converted, RFC 7622 §3.2.1).
 */
export function prepDomain(s: string): string {
  if (s.length > MAX_PART_BYTES) throw new JidError("domain", "longer than 1023 octets");
  // RFC 7622 §3.2: a trailing label separator is stripped before any use of the domainpart.
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (s.length === 0) throw new JidError("domain", "empty domainpart");
  if (PRINTABLE_ASCII.test(s) && !s.includes("xn--")) {
    // ASCII names need only lowercasing (RFC 5895 §2 step 1) and the LDH check.
    const lower = s.toLowerCase();
    if (FAST_DOMAIN.test(lower)) {
      checkAsciiLabels(lower);
      return lower;
    }
  }
  if (s.startsWith("[")) {
    // RFC 7622 §3.2 / RFC 3986 §3.2.2 IP-literal: only IPv6 here (no zone identifiers, no IPvFuture).
    if (!s.endsWith("]") || !isIPv6(s.slice(1, -1)) || s.includes("%")) throw new JidError("domain", "invalid IPv6 literal");
    return s.toLowerCase();
  }
  // RFC 7622 §3.2.2 / RFC 5895: width mapping, lowercase, NFC.
  let mapped = widthMap(s).toLowerCase().normalize("NFC");
  if (mapped.endsWith(".")) mapped = mapped.slice(0, -1);
  if (mapped.length === 0) throw new JidError("domain", "empty domainpart");
  for (const c of mapped) {
    if (c.charCodeAt(0) < 0x80) {
      if (!/[a-z0-9.-]/.test(c)) throw new JidError("domain", "contains a character not allowed in a host name");
    } else if (!identifierValid(c)) {
      // IDNA2008 PVALID (RFC 5892) is close to PRECIS IdentifierClass for non-ASCII code points.
      throw new JidError("domain", `code point U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} is not allowed`);
    }
  }
  for (const label of mapped.split(".")) {
    if (!contextOk(Array.from(label))) throw new JidError("domain", "contextual rule violated (RFC 5892 Appendix A)");
  }
  const ascii = domainToASCII(mapped);
  if (ascii === "") throw new JidError("domain", "not a valid internationalized domain name");
  checkAsciiLabels(ascii);
  const unicode = domainToUnicode(ascii);
  if (utf8Length(unicode) > MAX_PART_BYTES) throw new JidError("domain", "longer than 1023 octets");
  return unicode;
}

/**
 * Prepares and enforces a resourcepart: PRECIS OpaqueString (RFC 8265 §4.2): non-ASCII spaces
 * become U+0020, NFC, FreeformClass code points only. Case and width are preserved.
 */
export function prepResource(s: string): string {
  if (s.length === 0) throw new JidError("resource", "empty resourcepart"); // RFC 7622 §3.4
  if (PRINTABLE_ASCII_OR_SPACE.test(s)) {
    if (s.length > MAX_PART_BYTES) throw new JidError("resource", "longer than 1023 octets");
    return s;
  }
  if (s.length > MAX_PART_BYTES) throw new JidError("resource", "longer than 1023 octets");
  // RFC 8265 §4.2.1: additional mapping of non-ASCII spaces, then NFC.
  const out = s.replace(NON_ASCII_SPACE, " ").normalize("NFC");
  const cps = Array.from(out);
  for (const c of cps) {
    // RFC 8264 §4.3: FreeformClass allows letters, digits, spaces, symbols, punctuation and
    // compatibility characters; controls, ignorables, unassigned and the exceptions are not.
    if (ALWAYS_DISALLOWED.test(c) || EXCEPTION_DISALLOWED.test(c)) {
      throw new JidError("resource", `code point U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} is not allowed`);
    }
  }
  if (!contextOk(cps)) throw new JidError("resource", "contextual rule violated (RFC 5892 Appendix A)");
  if (utf8Length(out) > MAX_PART_BYTES) throw new JidError("resource", "longer than 1023 octets");
  return out;
}

/** Not exported: only this module can build a Jid without preparing its parts. */
const PREPARED: unique symbol = Symbol("prepared");

/**
 * An immutable, prepared XMPP address. Compare with {@link Jid.equals} or by `toString()`:
 * both are exact because every part is in its canonical prepared form.
 */
export class Jid {
  /** Prepared localpart, "" when absent. */
  readonly local: string;
  /** Prepared domainpart (never empty). */
  readonly domain: string;
  /** Prepared resourcepart, "" when absent. */
  readonly resource: string;
  /** `bareString`, made once: routing asks for it several times per stanza. */
  #bare: string | undefined = undefined;

  /**
   * Prepares every part; throws {@link JidError} when one is invalid. "" means "absent".
   * (The fourth parameter is module-private: it marks parts that are already prepared.)
   */
  constructor(local: string, domain: string, resource = "", prepared?: typeof PREPARED) {
    if (prepared === PREPARED) {
      this.local = local;
      this.domain = domain;
      this.resource = resource;
    } else {
      this.local = local === "" ? "" : prepLocal(local);
      this.domain = prepDomain(domain);
      this.resource = resource === "" ? "" : prepResource(resource);
    }
  }

  /** True when there is no resourcepart. */
  get isBare(): boolean {
    return this.resource === "";
  }

  /** This address without its resourcepart (the same object when already bare). */
  bare(): Jid {
    return this.isBare ? this : trusted(this.local, this.domain, "");
  }

  /** This address with another resourcepart (prepared; "" gives the bare JID). */
  withResource(resource: string): Jid {
    return trusted(this.local, this.domain, resource === "" ? "" : prepResource(resource));
  }

  /** `local@domain` or `domain`. */
  get bareString(): string {
    return (this.#bare ??= this.local === "" ? this.domain : `${this.local}@${this.domain}`);
  }

  /** RFC 7622 §3.1 string form: `[local@]domain[/resource]`. */
  toString(): string {
    return this.resource === "" ? this.bareString : `${this.bareString}/${this.resource}`;
  }

  /** Exact comparison of the prepared parts. */
  equals(o: Jid): boolean {
    return this === o || (this.domain === o.domain && this.local === o.local && this.resource === o.resource);
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Builds a Jid from parts that are already prepared, skipping preparation. */
function trusted(local: string, domain: string, resource: string): Jid {
  return new Jid(local, domain, resource, PREPARED);
}

/**
 * Parses and prepares a JID string (RFC 7622 §3.1): the resource starts at the first "/", the
 * localpart ends at the first "@" before it. Throws {@link JidError} on invalid input.
 */
export function parseJid(s: string): Jid {
  if (s.length > MAX_JID_CHARS) throw new JidError("jid", "too long");
  const slash = s.indexOf("/");
  const head = slash === -1 ? s : s.slice(0, slash);
  const at = head.indexOf("@");
  const local = at === -1 ? undefined : head.slice(0, at);
  const domain = at === -1 ? head : head.slice(at + 1);
  const resource = slash === -1 ? undefined : s.slice(slash + 1);
  // RFC 7622 §3.3/§3.4: a present separator with an empty part is an error, not an absent part.
  if (local === "") throw new JidError("local", "empty localpart");
  if (resource === "") throw new JidError("resource", "empty resourcepart");
  return trusted(
    local === undefined ? "" : prepLocal(local),
    prepDomain(domain),
    resource === undefined ? "" : prepResource(resource),
  );
}

/** Like {@link parseJid} but returns undefined instead of throwing. */
export function tryParseJid(s: string): Jid | undefined {
  try {
    return parseJid(s);
  } catch (e) {
    if (e instanceof JidError) return undefined;
    throw e;
  }
}

/** Builds a Jid from its parts (prepared; "" or undefined means absent). Throws {@link JidError}. */
export function jid(local: string | undefined, domain: string, resource?: string): Jid {
  return new Jid(local ?? "", domain, resource ?? "");
}
