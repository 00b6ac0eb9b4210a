// In-memory storage backend (plain Maps) for tests; behaves exactly like the SQLite backend,
// which the contract suite in test/contract/ proves. Archive paging follows XEP-0313 + XEP-0059.
import {
  StorageError,
  checkRestoredRow,
  checkTime,
  compareCodePoints,
  decodeValue,
  encodeValue,
  newArchiveId,
  normalizeQuery,
} from "./shared.js";
import type {
  ArchiveItem,
  ArchiveQuery,
  ArchiveResult,
  ArchiveStore,
  DumpedRow,
  KvStore,
  MapStore,
  SnapshotRow,
  StorageBackend,
} from "./types.js";

interface Cell {
  /** JSON text, as SQLite stores it, so values come back as copies with the same round-trip. */
  value: string;
  updated: number;
}

interface ArchiveRow {
  /** Insertion counter: the tie-breaker for equal timestamps, like SQLite's autoincrement. */
  seq: number;
  id: string;
  when: number;
  with: string;
  value: string;
}

/** Store order: by time, then by insertion. */
function before(a: ArchiveRow, b: ArchiveRow): boolean {
  return a.when < b.when || (a.when === b.when && a.seq < b.seq);
}

/** Inserts after every row with when <= row.when: equal timestamps keep arrival order. */
function insertSorted(rows: ArchiveRow[], row: ArchiveRow): void {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(row, rows[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  rows.splice(lo, 0, row);
}

function sortedKeys<V>(m: Map<string, V> | undefined): string[] {
  return [...(m?.keys() ?? [])].sort(compareCodePoints);
}

function toItem<T>(r: ArchiveRow): ArchiveItem<T> {
  return { id: r.id, when: r.when, with: r.with, value: decodeValue<T>(r.value) };
}

/** Options for {@link createMemoryBackend}. */
export interface MemoryBackendOptions {
  /** Clock for `updated` stamps and default archive times (ms since the epoch). */
  now?: () => number;
}

/** A backend that keeps everything in Maps; data is lost on close. */
export function createMemoryBackend(opts: MemoryBackendOptions = {}): StorageBackend {
  const now = opts.now ?? Date.now;
  const kvData = new Map<string, Map<string, Cell>>();
  const mapData = new Map<string, Map<string, Map<string, Cell>>>();
  const archiveData = new Map<string, Map<string, ArchiveRow[]>>();
  let seq = 0;
  let closed = false;

  // Every method is async and checks this first, so a closed backend rejects like SQLite's does.
  function open(): void {
    if (closed) throw new StorageError("closed", "storage backend is closed");
  }

  function child<K, V>(m: Map<K, V>, k: K, make: () => V): V {
    let v = m.get(k);
    if (v === undefined) {
      v = make();
      m.set(k, v);
    }
    return v;
  }

  /** The owner's archive rows (sorted), or an empty array that is not attached. */
  function rowsOf(store: string, owner: string): ArchiveRow[] {
    return archiveData.get(store)?.get(owner) ?? [];
  }

  function setRows(store: string, owner: string, rows: ArchiveRow[]): void {
    const byOwner = child(archiveData, store, () => new Map<string, ArchiveRow[]>());
    if (rows.length === 0) byOwner.delete(owner);
    else byOwner.set(owner, rows);
    if (byOwner.size === 0) archiveData.delete(store);
  }

  function kv<T>(store: string): KvStore<T> {
    return {
      async get(owner) {
        open();
        const cell = kvData.get(store)?.get(owner);
        return cell === undefined ? undefined : decodeValue<T>(cell.value);
      },
      async set(owner, value) {
        open();
        if (value === undefined) {
          const byOwner = kvData.get(store);
          byOwner?.delete(owner);
          if (byOwner?.size === 0) kvData.delete(store);
          return;
        }
        const text = encodeValue(value);
        child(kvData, store, () => new Map()).set(owner, { value: text, updated: now() });
      },
      async owners(suffix) {
        open();
        const all = [...(kvData.get(store)?.keys() ?? [])];
        return all.filter((o) => suffix === undefined || o.endsWith(suffix)).sort(compareCodePoints);
      },
    };
  }

  function map<T>(store: string): MapStore<T> {
    function apply(owner: string, encoded: [string, string | undefined][]): void {
      const byOwner = child(mapData, store, () => new Map<string, Map<string, Cell>>());
      const keys = child(byOwner, owner, () => new Map<string, Cell>());
      const t = now();
      for (const [k, text] of encoded) {
        if (text === undefined) keys.delete(k);
        else keys.set(k, { value: text, updated: t });
      }
      if (keys.size === 0) byOwner.delete(owner);
      if (byOwner.size === 0) mapData.delete(store);
    }
    return {
      async get(owner, key) {
        open();
        const cell = mapData.get(store)?.get(owner)?.get(key);
        return cell === undefined ? undefined : decodeValue<T>(cell.value);
      },
      async set(owner, key, value) {
        open();
        apply(owner, [[key, value === undefined ? undefined : encodeValue(value)]]);
      },
      async setMany(owner, entries) {
        open();
        // Encode everything first: one bad value must leave the map untouched (all or nothing).
        const encoded = Object.entries(entries).map(
          ([k, v]): [string, string | undefined] => [k, v === undefined ? undefined : encodeValue(v)],
        );
        apply(owner, encoded);
      },
      async getAll(owner) {
        open();
        const out = new Map<string, T>();
        const keys = mapData.get(store)?.get(owner);
        if (keys === undefined) return out;
        for (const k of [...keys.keys()].sort(compareCodePoints)) out.set(k, decodeValue<T>(keys.get(k)!.value));
        return out;
      },
      async clear(owner) {
        open();
        const byOwner = mapData.get(store);
        const n = byOwner?.get(owner)?.size ?? 0;
        byOwner?.delete(owner);
        if (byOwner?.size === 0) mapData.delete(store);
        return n;
      },
    };
  }

  function archive<T>(store: string): ArchiveStore<T> {
    /** Adds a row at once (a given id, or a generated one); returns its id. */
    function add(owner: string, given: string | undefined, item: { when?: number; with?: string; value: T }): string {
      open();
      const when = item.when === undefined ? now() : checkTime("when", item.when);
      if (given === "") throw new StorageError("bad-argument", "archive id must not be empty");
      const text = encodeValue(item.value);
      const rows = rowsOf(store, owner);
      const id = given ?? newArchiveId(when);
      if (given !== undefined && rows.some((r) => r.id === id)) throw new StorageError("conflict", "archive id already exists");
      insertSorted(rows, { seq: ++seq, id, when, with: item.with ?? "", value: text });
      setRows(store, owner, rows);
      return id;
    }

    return {
      appendSoon(owner, item) {
        return { id: add(owner, undefined, item), durable: Promise.resolve() };
      },

      async append(owner, item) {
        return add(owner, item.id, item);
      },

      async query(owner, query?: ArchiveQuery): Promise<ArchiveResult<T>> {
        open();
        const q = normalizeQuery(query);
        const rows = rowsOf(store, owner);
        // XEP-0059 §2.4: an anchor that is not in the archive is item-not-found.
        const anchor = (id: string | undefined): ArchiveRow | undefined => {
          if (id === undefined) return undefined;
          const r = rows.find((x) => x.id === id);
          if (r === undefined) throw new StorageError("item-not-found", "no archive item with that id");
          return r;
        };
        const afterRow = anchor(q.after);
        const beforeRow = anchor(q.before);
        const ids = q.ids === undefined ? undefined : new Set(q.ids);
        const matching = rows.filter(
          (r) =>
            (q.with === undefined || r.with === q.with) &&
            (q.start === undefined || r.when >= q.start) &&
            (q.end === undefined || r.when <= q.end) &&
            (ids === undefined || ids.has(r.id)),
        );
        const range = matching.filter(
          (r) => (afterRow === undefined || before(afterRow, r)) && (beforeRow === undefined || before(r, beforeRow)),
        );
        let page = range;
        let complete = true;
        if (q.limit !== undefined && range.length > q.limit) {
          complete = false;
          page = q.fromEnd ? range.slice(range.length - q.limit) : range.slice(0, q.limit);
        }
        return { items: page.map((r) => toItem<T>(r)), complete, count: matching.length };
      },

      async delete(owner, q) {
        open();
        const rows = rowsOf(store, owner);
        const ids = q?.ids === undefined ? undefined : new Set(q.ids);
        const end = q?.end === undefined ? undefined : checkTime("end", q.end);
        const keep = rows.filter(
          (r) =>
            !(
              (q?.with === undefined || r.with === q.with) &&
              (end === undefined || r.when <= end) &&
              (ids === undefined || ids.has(r.id))
            ),
        );
        setRows(store, owner, keep);
        return rows.length - keep.length;
      },
    };
  }

  return {
    kind: "memory",
    kv: <T>(store: string) => kv<T>(store),
    map: <T>(store: string) => map<T>(store),
    archive: <T>(store: string) => archive<T>(store),

    async purgeOwner(owner, stores) {
      open();
      const counts: Record<string, number> = {};
      for (const store of new Set(stores)) {
        let n = 0;
        const kvs = kvData.get(store);
        if (kvs?.delete(owner)) n++;
        if (kvs?.size === 0) kvData.delete(store);
        const maps = mapData.get(store);
        n += maps?.get(owner)?.size ?? 0;
        maps?.delete(owner);
        if (maps?.size === 0) mapData.delete(store);
        n += rowsOf(store, owner).length;
        setRows(store, owner, []);
        counts[store] = n;
      }
      return counts;
    },

    async expire(store, beforeMs) {
      open();
      checkTime("beforeMs", beforeMs);
      let n = 0;
      const kvs = kvData.get(store);
      for (const [owner, cell] of kvs ?? []) {
        if (cell.updated < beforeMs) {
          kvs!.delete(owner);
          n++;
        }
      }
      if (kvs?.size === 0) kvData.delete(store);
      const maps = mapData.get(store);
      for (const [owner, keys] of maps ?? []) {
        for (const [k, cell] of keys) {
          if (cell.updated < beforeMs) {
            keys.delete(k);
            n++;
          }
        }
        if (keys.size === 0) maps!.delete(owner);
      }
      if (maps?.size === 0) mapData.delete(store);
      for (const [owner, rows] of [...(archiveData.get(store) ?? [])]) {
        const keep = rows.filter((r) => r.when >= beforeMs);
        n += rows.length - keep.length;
        setRows(store, owner, keep);
      }
      return n;
    },

    async dumpOwner(owner, store) {
      open();
      const out: DumpedRow[] = [];
      const cell = kvData.get(store)?.get(owner);
      if (cell !== undefined) out.push({ shape: "kv", value: decodeValue(cell.value) });
      const keys = mapData.get(store)?.get(owner);
      for (const k of [...(keys?.keys() ?? [])].sort(compareCodePoints)) {
        out.push({ shape: "map", key: k, value: decodeValue(keys!.get(k)!.value) });
      }
      for (const r of rowsOf(store, owner)) out.push({ shape: "archive", ...toItem(r) });
      return out;
    },

    async countRows() {
      open();
      const out: Record<string, number> = {};
      const add = (store: string, n: number) => (out[store] = (out[store] ?? 0) + n);
      for (const [store, byOwner] of kvData) add(store, byOwner.size);
      for (const [store, byOwner] of mapData) for (const keys of byOwner.values()) add(store, keys.size);
      for (const [store, byOwner] of archiveData) for (const rows of byOwner.values()) add(store, rows.length);
      return out;
    },

    async countMentions(needle) {
      open();
      // Case-sensitive substring match on the stored text, as the SQL backends do.
      const has = (s: string): boolean => s.includes(needle);
      let n = 0;
      for (const byOwner of kvData.values()) {
        for (const [owner, cell] of byOwner) if (has(owner) || has(cell.value)) n++;
      }
      for (const byOwner of mapData.values()) {
        for (const [owner, keys] of byOwner) {
          for (const [k, cell] of keys) if (has(owner) || has(k) || has(cell.value)) n++;
        }
      }
      for (const byOwner of archiveData.values()) {
        for (const [owner, rows] of byOwner) {
          for (const r of rows) if (has(owner) || has(r.id) || has(r.with) || has(r.value)) n++;
        }
      }
      return n;
    },

    // ---- Whole-store snapshot and restore (backups) ----

    snapshot(): AsyncIterable<SnapshotRow> {
      return {
        async *[Symbol.asyncIterator]() {
          open();
          // Collected synchronously, so no write can interleave: one point in time. Cells and
          // rows are replaced, never mutated, so holding references is enough.
          const out: SnapshotRow[] = [];
          for (const store of sortedKeys(kvData)) {
            const byOwner = kvData.get(store)!;
            for (const owner of sortedKeys(byOwner)) {
              const c = byOwner.get(owner)!;
              out.push({ shape: "kv", store, owner, value: c.value, updated: c.updated });
            }
          }
          for (const store of sortedKeys(mapData)) {
            const byOwner = mapData.get(store)!;
            for (const owner of sortedKeys(byOwner)) {
              const keys = byOwner.get(owner)!;
              for (const key of sortedKeys(keys)) {
                const c = keys.get(key)!;
                out.push({ shape: "map", store, owner, key, value: c.value, updated: c.updated });
              }
            }
          }
          for (const store of sortedKeys(archiveData)) {
            const byOwner = archiveData.get(store)!;
            for (const owner of sortedKeys(byOwner)) {
              for (const r of byOwner.get(owner)!) {
                out.push({ shape: "archive", store, owner, seq: r.seq, id: r.id, when: r.when, with: r.with, value: r.value });
              }
            }
          }
          yield* out;
        },
      };
    },

    async restoreRows(rows) {
      open();
      let n = 0;
      for await (const r of rows) {
        open();
        checkRestoredRow(r);
        if (r.shape === "kv") {
          const byOwner = child(kvData, r.store, () => new Map<string, Cell>());
          if (byOwner.has(r.owner)) throw new StorageError("conflict", "kv row exists already");
          byOwner.set(r.owner, { value: r.value, updated: r.updated });
        } else if (r.shape === "map") {
          const keys = child(child(mapData, r.store, () => new Map<string, Map<string, Cell>>()), r.owner, () => new Map<string, Cell>());
          if (keys.has(r.key)) throw new StorageError("conflict", "map row exists already");
          keys.set(r.key, { value: r.value, updated: r.updated });
        } else {
          const list = rowsOf(r.store, r.owner);
          if (list.some((x) => x.id === r.id)) throw new StorageError("conflict", "archive id already exists");
          insertSorted(list, { seq: ++seq, id: r.id, when: r.when, with: r.with, value: r.value });
          setRows(r.store, r.owner, list);
        }
        n++;
      }
      return n;
    },

    async close() {
      closed = true;
      kvData.clear();
      mapData.clear();
      archiveData.clear();
    },
  };
}
