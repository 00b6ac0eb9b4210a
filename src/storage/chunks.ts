// Reading the archive's chunks (archive-log.ts writes them): a chunk is one row holding the items
// one move brought for one owner. Its "head" is JSON, [id, when, with, length of the value, ...]
// in arrival order; its "body" the values one after another; item k's seq is seq0 + k. Queries
// read heads to filter, count and pick a page, then the bodies of the chunks the page uses.
import type { NormalizedQuery } from "./shared.js";
import { archiveIdTime } from "./archive-log.js";

/** A place in store order: by time, then by arrival. */
export interface Position {
  when: number;
  seq: number;
}

/** Store order: negative when `a` comes first. */
export function compare(a: Position, b: Position): number {
  return a.when - b.when || a.seq - b.seq;
}

/** The head of a chunk, as read. */
export interface ChunkHead {
  cid: number;
  seq0: number;
  head: string;
}

/** One item of a chunk, without its value: where the value is in the chunk's body. */
export interface ChunkEntry extends Position {
  id: string;
  with: string;
  cid: number;
  off: number;
  len: number;
}

export function entriesOf(c: ChunkHead): ChunkEntry[] {
  const h = JSON.parse(c.head) as unknown[];
  const out: ChunkEntry[] = [];
  let off = 0;
  for (let i = 0, k = 0; i + 3 < h.length; i += 4, k++) {
    const len = h[i + 3] as number;
    out.push({ id: h[i] as string, when: h[i + 1] as number, with: h[i + 2] as string, seq: Number(c.seq0) + k, cid: Number(c.cid), off, len });
    off += len;
  }
  return out;
}

/** The stored text of an entry's value, from its chunk's body. */
export function valueText(body: string, e: ChunkEntry): string {
  return body.slice(e.off, e.off + e.len);
}

/** A query's filters, as tested on entries. */
export interface EntryFilter {
  with: string | undefined;
  start: number | undefined;
  end: number | undefined;
  ids: Set<string> | undefined;
}

export function entryFilter(q: Pick<NormalizedQuery, "with" | "start" | "end" | "ids">): EntryFilter {
  return { with: q.with, start: q.start, end: q.end, ids: q.ids === undefined ? undefined : new Set(q.ids) };
}

export function matches(e: ChunkEntry, f: EntryFilter): boolean {
  return (
    (f.with === undefined || e.with === f.with) &&
    (f.start === undefined || e.when >= f.start) &&
    (f.end === undefined || e.when <= f.end) &&
    (f.ids === undefined || f.ids.has(e.id))
  );
}

/**
 * The times between which chunks can hold items the query selects (either bound may be open),
 * narrowed by the anchors; null when no chunk can: the bounds exclude each other, or only ids
 * are asked for that cannot be in chunks (chunks hold generated ids only, each naming its time).
 */
export function chunkWindow(
  q: Pick<NormalizedQuery, "start" | "end" | "ids">,
  after?: Position,
  before?: Position,
): { lo: number | undefined; hi: number | undefined } | null {
  let lo = q.start;
  let hi = q.end;
  if (after !== undefined) lo = lo === undefined ? after.when : Math.max(lo, after.when);
  if (before !== undefined) hi = hi === undefined ? before.when : Math.min(hi, before.when);
  if (lo !== undefined && hi !== undefined && lo > hi) return null;
  if (q.ids !== undefined && idTimes(q.ids).every((t) => (lo !== undefined && t < lo) || (hi !== undefined && t > hi))) return null;
  return { lo, hi };
}

/** The distinct times generated ids among `ids` begin with (others have none). */
export function idTimes(ids: readonly string[]): number[] {
  return [...new Set(ids.map(archiveIdTime))].filter((t) => t >= 0);
}

/**
 * Collects a page from chunks visited in paging order (by their lowest time going forward, by
 * their highest going backward): keeps the `need` entries that come first in the paging
 * direction, and says when no later chunk can change them.
 */
export class PageCollector {
  private entries: ChunkEntry[] = [];

  constructor(
    private readonly need: number | undefined,
    private readonly fromEnd: boolean,
  ) {}

  private order = (a: Position, b: Position): number => (this.fromEnd ? compare(b, a) : compare(a, b));

  add(e: ChunkEntry): void {
    this.entries.push(e);
    // Trim now and then, so a long walk keeps about twice the page
    if (this.need !== undefined && this.entries.length >= 2 * this.need + 64) this.trim();
  }

  private trim(): void {
    this.entries.sort(this.order);
    if (this.need !== undefined && this.entries.length > this.need) this.entries.length = this.need;
  }

  /**
   * Whether the page is settled before a chunk whose items lie between `lo` and `hi`: it is full
   * and its last entry comes strictly before anything such a chunk can hold.
   */
  settledBefore(lo: number, hi: number): boolean {
    if (this.need === undefined || this.entries.length < this.need) return false;
    this.trim();
    const last = this.entries[this.need - 1];
    if (last === undefined) return true; // need = 0
    return this.fromEnd ? last.when > hi : last.when < lo;
  }

  /** The page in paging order. */
  result(): ChunkEntry[] {
    this.trim();
    return this.entries;
  }
}

/** Two lists in paging order merged into one, cut to `need`. */
export function mergePages<A extends Position, B extends Position>(a: A[], b: B[], fromEnd: boolean, need: number | undefined): (A | B)[] {
  const out: (A | B)[] = [];
  let i = 0;
  let j = 0;
  const max = need ?? Infinity;
  while (out.length < max && (i < a.length || j < b.length)) {
    if (j >= b.length) out.push(a[i++]!);
    else if (i >= a.length) out.push(b[j++]!);
    else {
      const c = compare(a[i]!, b[j]!);
      out.push((fromEnd ? c > 0 : c < 0) ? a[i++]! : b[j++]!);
    }
  }
  return out;
}
