// A minimal POSIX ustar (IEEE Std 1003.1-1988 "ustar" interchange format) writer and reader for
// the account export archive: regular files only, streamed, readable by any tar.
import type { Readable } from "node:stream";

/** One regular file of the archive. */
export interface TarEntry {
  /** "/"-separated relative path; at most 255 bytes (split into ustar prefix and name). */
  name: string;
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
  /** The content: bytes, or a stream that must yield exactly `size` bytes. */
  data: Buffer | (() => Readable | AsyncIterable<Buffer>);
}

const BLOCK = 512;

/** Splits a path into ustar's prefix (155 bytes) and name (100 bytes) fields. */
function splitName(path: string): [prefix: string, name: string] {
  const bytes = Buffer.byteLength(path);
  if (bytes <= 100) return ["", path];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== "") return [prefix, name];
  }
  throw new RangeError(`path too long for a ustar archive: ${path}`);
}

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  const s = Math.floor(value).toString(8);
  if (s.length > width - 1) throw new RangeError(`value ${value} does not fit a ${width}-byte ustar field`);
  return s.padStart(width - 1, "0") + "\0";
}

/** The 512-byte header of a regular file. */
export function tarHeader(entry: Pick<TarEntry, "name" | "size" | "mtime">): Buffer {
  if (entry.name === "" || entry.name.startsWith("/") || entry.name.split("/").some((s) => s === ".." || s === ".")) {
    throw new RangeError(`unsafe path in archive: ${entry.name}`);
  }
  const [prefix, name] = splitName(entry.name);
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, "utf8");
  h.write(octal(0o600, 8), 100, "ascii"); // mode: readable by the owner only (personal data)
  h.write(octal(0, 8), 108, "ascii"); // uid
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(entry.size, 12), 124, "ascii");
  h.write(octal(entry.mtime / 1000, 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // checksum field counts as spaces while summing
  h.write("0", 156, "ascii"); // typeflag: regular file
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

/**
 * Yields the archive: each entry's header, content and padding, then two zero blocks.
 * @throws RangeError when a stream yields more or fewer bytes than its declared size
 */
export async function* tarStream(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    yield tarHeader(e);
    let written = 0;
    if (Buffer.isBuffer(e.data)) {
      if (e.data.length !== e.size) throw new RangeError(`${e.name}: size ${e.size} but ${e.data.length} bytes`);
      yield e.data;
      written = e.size;
    } else {
      for await (const chunk of e.data() as AsyncIterable<Buffer>) {
        written += chunk.length;
        if (written > e.size) throw new RangeError(`${e.name}: more than the declared ${e.size} bytes`);
        yield chunk;
      }
      if (written !== e.size) throw new RangeError(`${e.name}: ${written} bytes instead of ${e.size}`);
    }
    const pad = (BLOCK - (written % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad, 0);
  }
  yield Buffer.alloc(BLOCK * 2, 0);
}

/**
 * Reads the regular files of a ustar archive held in memory (what `tarStream` writes, and what
 * GNU/BSD tar write for plain files). Other entry types are skipped.
 * @throws RangeError for a truncated or corrupt archive
 */
export function readTar(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  const field = (h: Buffer, start: number, len: number) => {
    const raw = h.subarray(start, start + len);
    const nul = raw.indexOf(0);
    return (nul >= 0 ? raw.subarray(0, nul) : raw).toString("utf8");
  };
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) return out; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (parseInt(field(h, 148, 8).trim() || "-1", 8) !== sum) throw new RangeError(`bad tar header checksum at ${off}`);
    const size = parseInt(field(h, 124, 12).trim() || "0", 8);
    const type = field(h, 156, 1);
    const prefix = field(h, 345, 155);
    const name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const start = off + BLOCK;
    if (!Number.isSafeInteger(size) || size < 0 || start + size > buf.length) throw new RangeError(`truncated tar entry ${name}`);
    if (type === "0" || type === "") out.set(name, buf.subarray(start, start + size));
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw new RangeError("tar archive without end marker");
}
