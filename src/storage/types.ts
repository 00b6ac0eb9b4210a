// The storage interface every backend implements: three store shapes (key-value, map, archive)
// addressed by (store name, owner). Modules see only these shapes, never SQL or files.
// The lifecycle types say who owns stored data, why it is kept, and for how long.

/** Who a store's rows belong to. Deleting that owner deletes its rows. */
export type OwnerKind = "account" | "room" | "host";

/**
 * How long data is kept:
 * - `{ kind: "lifetime" }`: as long as the owner exists (deleted with it);
 * - `{ kind: "duration", ms }`: rows older than `ms` are expired by the retention sweep (and
 *   deleted with the owner in any case);
 * - `{ kind: "forever", justification }`: only with a written reason (still deleted with the owner).
 */
export type Retention =
  | { kind: "lifetime" }
  | { kind: "duration"; ms: number }
  | { kind: "forever"; justification: string };

/** The lifecycle every store declares (see docs/architecture.md, "Privacy is structure"). */
export interface StoreLifecycle {
  owner: OwnerKind;
  purpose: string;
  retention: Retention;
  /** Whether the owner's data export includes this store. */
  export: boolean;
}

export type StoreShape = "kv" | "map" | "archive";

/** A store as declared by a module: a shape plus its lifecycle. */
export interface StoreDeclaration extends StoreLifecycle {
  shape: StoreShape;
}

/**
 * Owner keys are strings: a bare JID ("juliet@example.com") for accounts and rooms, a domain for
 * hosts. Values are JSON-serializable.
 */
export interface KvStore<T = unknown> {
  get(owner: string): Promise<T | undefined>;
  /** Sets the value; `undefined` deletes it. */
  set(owner: string, value: T | undefined): Promise<void>;
  /** Owners that have a value, optionally only those ending with `suffix` (e.g. "@example.com"). */
  owners(suffix?: string): Promise<string[]>;
}

export interface MapStore<T = unknown> {
  get(owner: string, key: string): Promise<T | undefined>;
  /** Sets one key; `undefined` deletes it. */
  set(owner: string, key: string, value: T | undefined): Promise<void>;
  /** Several keys at once, in one transaction (undefined deletes). */
  setMany(owner: string, entries: Record<string, T | undefined>): Promise<void>;
  getAll(owner: string): Promise<Map<string, T>>;
  /** Deletes every key of the owner; returns how many were removed. */
  clear(owner: string): Promise<number>;
}

export interface ArchiveItem<T = unknown> {
  /**
   * Unique within the owner's archive in this store (server-generated unless given on append;
   * generated ids are 22 unguessable base64url characters, fit for XEP-0359 stanza ids).
   */
  id: string;
  /** Milliseconds since the epoch. */
  when: number;
  /** The other party (a bare JID), used by `with` filters; "" if none. */
  with: string;
  value: T;
}

/**
 * An archive query. Store order is by `when`, then by arrival (stable for equal timestamps).
 * Filters (`with`, `start`, `end`, `ids`) select the matching items; `after`/`before` then cut
 * the range and `limit` picks a page from its start, or from its end when paging backwards.
 */
export interface ArchiveQuery {
  /** Exact match on the stored peer. */
  with?: string;
  /** Inclusive bounds, ms since the epoch. */
  start?: number;
  end?: number;
  /**
   * Items strictly after / before the item with this id in store order (RSM, XEP-0059). The
   * anchor item need not match the filters, but must exist in the owner's archive, otherwise the
   * query throws a StorageError with code "item-not-found" (XEP-0059 §2.4). A `before` given at
   * all, even "", pages from the end ("" = the last page, XEP-0059 §2.5); `after: ""` is ignored.
   */
  after?: string;
  before?: string;
  /** Only these ids (`[]` matches nothing). */
  ids?: string[];
  /** At most this many items (a non-negative integer; 0 gives only `count` and `complete`). */
  limit?: number;
  /** Page from the end (newest first page); items are still returned oldest first. */
  reverse?: boolean;
}

export interface ArchiveResult<T = unknown> {
  /** Oldest first. */
  items: ArchiveItem<T>[];
  /** True when no more items match beyond this page (in the paging direction). */
  complete: boolean;
  /** Total number of items matching the filters, ignoring after/before/limit (both backends give it). */
  count?: number;
}

export interface ArchiveStore<T = unknown> {
  /**
   * Appends and returns the id. Durable when the promise resolves. `when` defaults to the
   * backend clock, `with` to "". A given id that the owner's archive already holds throws a
   * StorageError "conflict"; an empty id throws "bad-argument".
   */
  append(owner: string, item: { id?: string; when?: number; with?: string; value: T }): Promise<string>;
  /**
   * Appends with a generated id and returns the id at once, before the row is durable; `durable`
   * resolves once it is (rows appended in the same event-loop turn are written together) and
   * rejects if writing it failed. For the message path: the caller may hand the id on (XEP-0359)
   * while it waits, and holds back only what must follow durability (a XEP-0198 ack). Bad
   * arguments throw at once, as for `append`.
   */
  appendSoon(owner: string, item: { when?: number; with?: string; value: T }): { id: string; durable: Promise<void> };
  query(owner: string, q?: ArchiveQuery): Promise<ArchiveResult<T>>;
  /**
   * Deletes the owner's items matching every given filter (`end` inclusive, `ids: []` matches
   * nothing); all of them without a query. Returns the count.
   */
  delete(owner: string, q?: { ids?: string[]; with?: string; end?: number }): Promise<number>;
}

/** One stored row, as {@link StorageBackend.dumpOwner} returns it. */
export type DumpedRow =
  | { shape: "kv"; value: unknown }
  | { shape: "map"; key: string; value: unknown }
  | { shape: "archive"; id: string; when: number; with: string; value: unknown };

/**
 * One stored row of any store, as {@link StorageBackend.snapshot} yields it and
 * {@link StorageBackend.restoreRows} takes it (backups). `value` is the stored text (JSON text,
 * or a string behind "="), so a snapshot round-trips values exactly; `updated` is kept so retention goes on after a restore.
 * `seq` is the archive's arrival order (the tie-breaker of equal `when`s); a restore keeps the
 * order, not the numbers.
 */
export type SnapshotRow =
  | { shape: "kv"; store: string; owner: string; value: string; updated: number }
  | { shape: "map"; store: string; owner: string; key: string; value: string; updated: number }
  | { shape: "archive"; store: string; owner: string; seq: number; id: string; when: number; with: string; value: string };

/** A storage backend: SQLite (default), memory (tests), later PostgreSQL. */
export interface StorageBackend {
  readonly kind: string;
  kv<T = unknown>(store: string): KvStore<T>;
  map<T = unknown>(store: string): MapStore<T>;
  archive<T = unknown>(store: string): ArchiveStore<T>;
  /** Deletes every row of `owner` in the named stores; returns rows removed per store. */
  purgeOwner(owner: string, stores: string[]): Promise<Record<string, number>>;
  /**
   * Deletes rows of a store last written before `beforeMs` (kv/map: `updated`, archive: `when`,
   * both strictly less); returns the count.
   */
  expire(store: string, beforeMs: number): Promise<number>;
  /**
   * Every row of an owner in one store, for export and contract tests: the kv value, then map
   * entries by key, then archive items in store order.
   */
  dumpOwner(owner: string, store: string): Promise<DumpedRow[]>;
  /**
   * Rows anywhere (any store, any shape) whose owner, key, archive id, peer or JSON value text
   * contains `needle` (case-sensitive); for privacy tests.
   */
  countMentions(needle: string): Promise<number>;
  /** Rows per store name (kv values, map entries, archive items), for the metrics endpoint. */
  countRows?(): Promise<Record<string, number>>;
  /**
   * Every row of every store from one consistent point in time (one read transaction): kv rows
   * by (store, owner), then map rows by (store, owner, key), then archive rows by (store, owner)
   * in store order. Streams; writers are not blocked while it is consumed (SQLite files read
   * through a second connection). Stop early with `break`/`return` to release the snapshot.
   */
  snapshot(): AsyncIterable<SnapshotRow>;
  /**
   * Inserts rows as {@link snapshot} yields them (meant for an empty backend: a row whose key
   * exists already throws StorageError "conflict"), keeping `updated` stamps and, per archive,
   * the given order. Commits in batches; returns the number of rows written.
   */
  restoreRows(rows: AsyncIterable<SnapshotRow> | Iterable<SnapshotRow>): Promise<number>;
  /**
   * Flushes and closes; later calls reject with StorageError "closed". Idempotent. Callers
   * await their pending calls first (a call still queued when the database closes may fail).
   */
  close(): Promise<void>;
}
