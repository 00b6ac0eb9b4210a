// What HTTP File Upload (XEP-0363) accepts and how it serves it: file names, the content-type
// allow/deny policy, which types a browser may show inline, and single byte ranges (RFC 9110 §14).

/** Longest file name kept, in UTF-8 bytes (common file system limit). */
export const MAX_FILENAME_BYTES = 255;

/**
 * The file name to keep, or undefined when it must be refused (bad-request): empty, "." or "..",
 * containing a slash, backslash or control character, or too long. Other characters are kept so
 * the name and especially its extension stay intact (XEP-0363 §4 "SHOULD keep the file name").
 */
export function sanitizeFilename(raw: string): string | undefined {
  const name = raw.normalize("NFC").trim();
  if (name === "" || name === "." || name === "..") return undefined;
  // path separators, C0/C1 controls, DEL and Unicode line/paragraph separators and bidi overrides
  if (/[/\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(name)) return undefined;
  if (Buffer.byteLength(name, "utf8") > MAX_FILENAME_BYTES) return undefined;
  return name;
}

/**
 * The media type essence ("type/subtype", lower-cased, parameters dropped), or undefined when
 * the value is not a syntactically valid media type (RFC 9110 §8.3.1).
 */
export function mediaType(raw: string): string | undefined {
  const essence = (raw.split(";")[0] ?? "").trim().toLowerCase();
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(essence) ? essence : undefined;
}

/** Whether `type` matches a pattern: "image/png", "image/*" or "*". */
function matches(type: string, pattern: string): boolean {
  const p = pattern.trim().toLowerCase();
  if (p === "*" || p === "*/*") return true;
  if (p.endsWith("/*")) return type.startsWith(p.slice(0, -1));
  return type === p;
}

/** The operator's content-type policy: an empty allow list allows any type not denied. */
export interface ContentTypePolicy {
  allow: string[];
  deny: string[];
}

/** Whether uploads of this media type essence are accepted. */
export function contentTypeAllowed(type: string, policy: ContentTypePolicy): boolean {
  if (policy.deny.some((p) => matches(type, p))) return false;
  return policy.allow.length === 0 || policy.allow.some((p) => matches(type, p));
}

/**
 * Types a browser only displays (images, audio, video, PDF, plain text); everything else (HTML,
 * SVG, XML, JavaScript, unknown types) could run script in the server's origin, so it is served
 * as an application/octet-stream attachment.
 */
const INLINE_TYPES = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/heic",
  "image/heif",
  "image/bmp",
  "audio/mpeg",
  "audio/mp4",
  "audio/aac",
  "audio/ogg",
  "audio/opus",
  "audio/wav",
  "audio/webm",
  "audio/flac",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "application/pdf",
  "text/plain",
]);

/** How a stored file is served: its Content-Type and Content-Disposition. */
export function servedAs(type: string, filename: string): { contentType: string; disposition: string } {
  const inline = INLINE_TYPES.has(type);
  // RFC 6266 §4.3 + RFC 8187: an ASCII fallback and the exact UTF-8 name
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return {
    contentType: inline ? type : "application/octet-stream",
    disposition: `${inline ? "inline" : "attachment"}; filename="${ascii}"; filename*=UTF-8''${encoded}`,
  };
}

/**
 * A Range header against a file of `size` bytes (RFC 9110 §14.1.2): a single range as inclusive
 * offsets, "unsatisfiable" (416), or undefined to serve the whole file (no header, a malformed
 * one, or several ranges, which a server MAY ignore, §14.2).
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    // suffix range: the last N bytes
    const n = Number(b);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== "" && Number(b) < start) return undefined; // invalid range: ignored (§14.1.1)
  if (start >= size) return "unsatisfiable";
  return { start, end };
}
