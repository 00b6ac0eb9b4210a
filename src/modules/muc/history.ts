// Discussion history sent on entering a room (XEP-0045 §7.2.15): which of the recent messages a
// joining occupant gets, from its <history maxchars maxstanzas seconds since/> request.
import type { Element } from "../../xml/element.js";

/** A parsed <history/> request; absent attributes are undefined. */
export interface HistoryRequest {
  maxchars?: number;
  maxstanzas?: number;
  seconds?: number;
  /** Milliseconds since the epoch. */
  since?: number;
}

/** One message of a room's recent history. */
export interface HistoryEntry {
  when: number;
  /** Characters of the complete XML stanza, which is what maxchars counts (§7.2.15). */
  chars: number;
}

const UINT = /^\d{1,9}$/;

/** Parses <history/>; malformed attributes are ignored (as if absent). `parseTime` reads XEP-0082 DateTimes. */
export function parseHistoryRequest(el: Element | undefined, parseTime: (s: string) => number | undefined): HistoryRequest | undefined {
  if (!el) return undefined;
  const req: HistoryRequest = {};
  for (const k of ["maxchars", "maxstanzas", "seconds"] as const) {
    const v = el.attrs[k]?.trim();
    if (v !== undefined && UINT.test(v)) req[k] = Number(v);
  }
  const since = el.attrs.since;
  if (since !== undefined) {
    const t = parseTime(since);
    if (t !== undefined) req.since = t;
  }
  return req;
}

/**
 * Picks the newest entries satisfying every limit given (§7.2.15: limits combine; the server may
 * cap them): at most `max` stanzas, `defaultCount` when no request was made. Returns them oldest first.
 */
export function selectHistory<T extends HistoryEntry>(
  entries: readonly T[],
  req: HistoryRequest | undefined,
  now: number,
  limits: { defaultCount: number; max: number },
): T[] {
  let count = Math.min(req?.maxstanzas ?? (req && (req.maxchars !== undefined || req.seconds !== undefined || req.since !== undefined) ? limits.max : limits.defaultCount), limits.max);
  const after = Math.max(req?.since ?? -Infinity, req?.seconds !== undefined ? now - req.seconds * 1000 : -Infinity);
  let chars = req?.maxchars ?? Infinity;
  const out: T[] = [];
  for (let i = entries.length - 1; i >= 0 && count > 0; i--) {
    const e = entries[i]!;
    if (e.when < after) break;
    if (e.chars > chars) break;
    chars -= e.chars;
    count--;
    out.push(e);
  }
  return out.reverse();
}
