// SQLite storage backend: better-sqlite3 behind kysely, two generic tables (kv, map) in the
// Prosody style plus a migrations table, and the archive in a database file of its own, attached
// as "arc" (archive-log.ts). Archive paging follows XEP-0313 + XEP-0059.
import { closeSync, existsSync, openSync, rmSync } from "node:fs";
import Database from "better-sqlite3";
import { startCheckpointer, type Checkpointer } from "./checkpointer.js";
import {
  CHUNK_SPAN_MS,
  archiveExecutor,
  archiveIdTime,
  archiveInserter,
  archivePathFor,
  createArchiveSchema,
  hash53,
  legacyLogPathFor,
  openArchiveLog,
  registerHash,
  storedText,
  type ArchiveLog,
  type ArchiveWrite,
  type ChunkSelection,
  type LogRow,
} from "./archive-log.js";
import {
  PageCollector,
  chunkWindow,
  compare,
  entriesOf,
  entryFilter,
  idTimes,
  matches,
  mergePages,
  valueText,
  type ChunkEntry,
  type ChunkHead,
  type Position,
} from "./chunks.js";
import {
  Kysely,
  SqliteDialect,
  sql,
  type CompiledQuery,
  type SelectQueryBuilder,
  type Expression,
  type ExpressionBuilder,
  type Generated,
  type SqlBool,
  type Transaction,
} from "kysely";
import {
  StorageError,
  checkRestoredRow,
  checkTime,
  decodeValue,
  encodeValue,
  isPlain,
  newArchiveId,
  normalizeQuery,
  type NormalizedQuery,
} from "./shared.js";
import type {
  ArchiveItem,
  ArchiveResult,
  ArchiveStore,
  DumpedRow,
  KvStore,
  MapStore,
  SnapshotRow,
  StorageBackend,
} from "./types.js";

// ---- Schema ---------------------------------------------------------------------------------

interface KvTable {
  store: string;
  owner: string;
  /** JSON text. */
  value: string;
  /** ms since the epoch, from the backend clock. */
  updated: number;
}

interface MapTable {
  store: string;
  owner: string;
  key: string;
  value: string;
  updated: number;
}

/** The archive table of schema version 1, in the main file (moved out by version 2). */
interface ArchiveTable {
  /** Autoincrement: breaks ties between equal `when`s, so store order is stable. */
  seq: Generated<number>;
  store: string;
  owner: string;
  id: string;
  when: number;
  with: string;
  value: string;
}

/** Archive owners, numbered (in the archive file, attached as "arc"). */
interface ArcOwnersTable {
  oid: Generated<number>;
  store: string;
  owner: string;
}

/** Archive items (in the archive file): one row per item of an owner's archive. */
interface ArcItemsTable {
  /** Autoincrement: breaks ties between equal `when`s, so store order is stable. */
  seq: Generated<number>;
  oid: number;
  id: string;
  when: number;
  with: string;
  /** hash53(with), for "with" filters from the paging index. */
  withh: number;
  value: string;
  /** 1 for an id that is not the generated kind for this row's `when` (kept in a unique index). */
  free: Generated<number>;
}

/** Archive chunks (in the archive file): the items of one move for one owner (archive-log.ts). */
interface ArcChunksTable {
  cid: Generated<number>;
  oid: number;
  /** The lowest and highest `when` of its items. */
  lo: number;
  hi: number;
  n: number;
  /** The seq of its first item; item k's is seq0 + k. */
  seq0: number;
  /** JSON: [id, when, with, length of the value, ...] per item, in arrival order. */
  head: string;
  /** The items' values one after another. */
  body: string;
}

interface MigrationsTable {
  version: number;
  applied: number;
}

/** The tables as kysely sees them. */
export interface WarblerSchema {
  kv: KvTable;
  map: MapTable;
  archive: ArchiveTable;
  "arc.owners": ArcOwnersTable;
  "arc.items": ArcItemsTable;
  "arc.chunks": ArcChunksTable;
  warbler_migrations: MigrationsTable;
}

/** One schema step. Versions are positive and strictly increasing through the array. */
export interface Migration {
  version: number;
  description: string;
  // Kysely<any>: a migration creates tables the typed schema cannot describe yet.
  up(db: Kysely<any>): Promise<void>;
}

/**
 * The SQLite schema history. Never edit an applied step; append a new one.
 *
 * Archive ids are unique per (store, owner), not per store: ids given by clients can then never
 * collide with, or probe for, another owner's items, and every lookup is scoped by owner anyway.
 * Store order is (when, seq): `seq` is AUTOINCREMENT so it never reuses a deleted maximum, and
 * the two indexes end in `seq` so ordered range scans need no sort.
 */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "kv, map and archive tables",
    async up(db) {
      await db.schema
        .createTable("kv")
        .addColumn("store", "text", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addColumn("updated", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("kv_pk", ["store", "owner"])
        .execute();
      await db.schema
        .createTable("map")
        .addColumn("store", "text", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addColumn("updated", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("map_pk", ["store", "owner", "key"])
        .execute();
      await db.schema
        .createTable("archive")
        // SQLite-specific: INTEGER PRIMARY KEY AUTOINCREMENT (PostgreSQL: an identity column).
        .addColumn("seq", "integer", (c) => c.primaryKey().autoIncrement())
        .addColumn("store", "text", (c) => c.notNull())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("when", "bigint", (c) => c.notNull())
        .addColumn("with", "text", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addUniqueConstraint("archive_owner_id", ["store", "owner", "id"])
        .execute();
      await db.schema.createIndex("archive_owner_when").on("archive").columns(["store", "owner", "when", "seq"]).execute();
      await db.schema
        .createIndex("archive_owner_with_when")
        .on("archive")
        .columns(["store", "owner", "with", "when", "seq"])
        .execute();
    },
  },
  {
    version: 2,
    description: "the archive moves to a file of its own, with numbered owners and smaller indexes",
    async up(db) {
      // The archive file is attached as "arc" with its schema (archive-log.ts). In WAL mode a
      // commit spanning two files is atomic per file only: after a crash between the two, this
      // step runs again, and rows already copied are skipped (ids are unique per owner).
      for (const text of copyIntoArchive("main.archive", "seq")) await sql.raw(text).execute(db);
      await db.schema.dropTable("archive").execute();
    },
  },
];

// ---- Opening --------------------------------------------------------------------------------

/** Options for {@link createSqliteBackend}. */
export interface SqliteBackendOptions {
  /** Database file, or ":memory:". A new file is created readable by its owner only. */
  path: string;
  /** Clock for `updated` stamps and default archive times (ms since the epoch). */
  now?: () => number;
  /** How long a writer waits for another connection's lock, ms (default 5000). */
  busyTimeoutMs?: number;
  /** Schema history to apply (tests pass a longer one to check that only new steps run). */
  migrations?: readonly Migration[];
  /** Called after commit with each migration version this open applied. */
  onMigrate?: (version: number) => void;
  /** Called when the checkpoint worker fails (SQLite's own checkpoints then take over). */
  onCheckpointError?: (message: string) => void;
}

/**
 * Opens (creating if needed) a SQLite database and applies missing migrations.
 *
 * Durability: WAL with `synchronous = NORMAL`. A commit is written to the WAL before the promise
 * resolves, so it survives a crash or `kill -9` of the process; only an OS crash or power loss
 * can lose the last commits (the database stays consistent). FULL would add an fsync per commit.
 */
export async function createSqliteBackend(opts: SqliteBackendOptions): Promise<StorageBackend> {
  const now = opts.now ?? Date.now;
  const memory = opts.path === ":memory:";
  // PRIVACY: the database holds messages and rosters; create it 0600 (SQLite gives the -wal and
  // -shm files the database file's permissions). `mode` only applies when the file is created.
  if (!memory) closeSync(openSync(opts.path, "a", 0o600));
  if (!memory) closeSync(openSync(archivePathFor(opts.path), "a", 0o600));
  const raw = new Database(opts.path);
  try {
    // SQLite-specific settings, isolated here.
    raw.pragma("journal_mode = WAL");
    raw.pragma("synchronous = NORMAL");
    // Checkpoints run in a worker thread (checkpointer.ts), not inside our commits.
    if (!memory) raw.pragma("wal_autocheckpoint = 0");
    raw.pragma("foreign_keys = ON");
    // PRIVACY: deleted rows are overwritten with zeros, not left in free pages of the file
    raw.pragma("secure_delete = ON");
    raw.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    // The archive: its own file (written mostly by the append log's worker), same settings;
    // secure_delete is inherited from the main database at ATTACH.
    raw.prepare("attach database ? as arc").run(memory ? ":memory:" : archivePathFor(opts.path));
    if (!memory) raw.pragma("arc.journal_mode = WAL");
    createArchiveSchema(raw, "arc");
    registerHash(raw);
  } catch (err) {
    raw.close();
    throw err;
  }
  const db = new Kysely<WarblerSchema>({ dialect: new SqliteDialect({ database: raw }) });
  try {
    const applied = await migrate(db, opts.migrations ?? SQLITE_MIGRATIONS, now);
    for (const v of applied) opts.onMigrate?.(v);
    if (!memory) moveLegacyLog(raw, opts.path);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const checkpointer = memory
    ? undefined
    : startCheckpointer(opts.path, CHECKPOINT_INTERVAL_MS, (message) => {
        // Falls back to SQLite's own checkpoints if the worker fails.
        raw.pragma("wal_autocheckpoint = 1000");
        opts.onCheckpointError?.(message);
      });
  let archiveLog: ArchiveLog | undefined;
  try {
    archiveLog = memory ? undefined : openArchiveLog(opts.path, (message) => opts.onCheckpointError?.(message));
  } catch (err) {
    await checkpointer?.stop();
    await db.destroy();
    throw err;
  }
  return sqliteBackend(db, now, checkpointer, { raw, path: memory ? undefined : opts.path }, archiveLog);
}

/**
 * Copies the rows of an older table of (store, owner, id, when, with, value) into the archive, in
 * `order` (arrival); rows copied before (same owner and id) are skipped.
 */
function copyIntoArchive(table: string, order: string): string[] {
  return [
    `insert or ignore into arc.owners (store, owner) select distinct store, owner from ${table}`,
    `insert or ignore into arc.items (oid, id, "when", "with", withh, value)
      select o.oid, t.id, t."when", t."with", warbler_hash53(t."with"), t.value
      from ${table} t join arc.owners o on o.store = t.store and o.owner = t.owner order by t.${order}`,
  ];
}

/**
 * The append log of earlier versions was an SQLite file: rows a crash left there are copied into
 * the archive (after those of the archive table, in log order; rows copied before are skipped),
 * then the file is removed.
 */
function moveLegacyLog(raw: Database.Database, path: string): void {
  const legacy = legacyLogPathFor(path);
  if (!existsSync(legacy)) return;
  raw.prepare("attach database ? as lg").run(legacy);
  try {
    const hasLog = raw.prepare("select 1 from lg.sqlite_master where type = 'table' and name = 'log'").get() !== undefined;
    if (hasLog) {
      raw.transaction(() => {
        for (const text of copyIntoArchive("lg.log", "jseq")) raw.exec(text);
      })();
    }
  } finally {
    raw.exec("detach database lg");
  }
  for (const f of [legacy, `${legacy}-wal`, `${legacy}-shm`]) rmSync(f, { force: true });
}

/** How often the worker folds the WAL into the database file. */
const CHECKPOINT_INTERVAL_MS = 1000;

/** Applies the missing migrations, all in one transaction; returns the versions applied. */
async function migrate(db: Kysely<WarblerSchema>, migrations: readonly Migration[], now: () => number): Promise<number[]> {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isSafeInteger(m.version) || m.version <= last) throw new Error(`migration ${m.version} is out of order`);
    last = m.version;
  }
  await db.schema
    .createTable("warbler_migrations")
    .ifNotExists()
    .addColumn("version", "integer", (c) => c.primaryKey())
    .addColumn("applied", "bigint", (c) => c.notNull())
    .execute();
  return db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom("warbler_migrations").select("version").execute();
    const have = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...have);
    // A database written by a newer Warbler must not be used (or half-upgraded) by an older one.
    if (newest > last) throw new Error(`database schema version ${newest} is newer than this server knows (${last})`);
    const applied: number[] = [];
    for (const m of migrations) {
      if (have.has(m.version)) continue;
      await m.up(trx);
      await trx.insertInto("warbler_migrations").values({ version: m.version, applied: now() }).execute();
      applied.push(m.version);
    }
    return applied;
  });
}

// ---- Queries (portable SQL through kysely) ---------------------------------------------------

type Db = Kysely<WarblerSchema> | Transaction<WarblerSchema>;
type ArchiveEb = ExpressionBuilder<WarblerSchema, "arc.items">;

/** Deleted/updated row counts come back as bigint. */
function n(x: bigint | number | undefined): number {
  return Number(x ?? 0);
}

/** SQLite-specific: does this error say a UNIQUE/PRIMARY KEY constraint failed (PostgreSQL: 23505)? */
function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** SQLite-specific: case-sensitive substring test (PostgreSQL: strpos). */
function contains(column: string, needle: string): Expression<SqlBool> {
  return sql<SqlBool>`instr(${sql.ref(column)}, ${needle}) > 0`;
}

/** `column LIKE '%suffix'` with the suffix's wildcards escaped (portable). */
function endsWithLike(column: string, suffix: string): Expression<SqlBool> {
  const pattern = "%" + suffix.replace(/[\\%_]/g, (c) => "\\" + c);
  return sql<SqlBool>`${sql.ref(column)} like ${pattern} escape '\\'`;
}

/** The filters of an archive query: owner (by number), peer, time bounds, ids. */
function archiveFilters(
  eb: ArchiveEb,
  oid: number | OwnerOid,
  q: { with?: string | undefined; start?: number | undefined; end?: number | undefined; ids?: string[] | undefined },
): Expression<SqlBool> {
  // With ids, only the id look-ups may choose an index (SQLite answers their OR with one index
  // search per id, each naming the owner); the other filters, their columns behind a unary "+",
  // test the rows found. Otherwise the owner's range of the paging index is walked.
  const byIds = q.ids !== undefined;
  const col = (name: "when" | "withh") => (byIds ? sql<number>`+${sql.ref(name)}` : sql<number>`${sql.ref(name)}`);
  // callers handle ids: [] (no SQL "in ()")
  const c: Expression<SqlBool>[] = [byIds ? idsFilter(eb, oid, q.ids!) : eb("oid", "=", oid)];
  // the hash is checked in the index, the address itself on the rows it selects
  if (q.with !== undefined) c.push(eb(col("withh"), "=", hash53(q.with)), eb("with", "=", q.with));
  if (q.start !== undefined) c.push(eb(col("when"), ">=", q.start));
  if (q.end !== undefined) c.push(eb(col("when"), "<=", q.end));
  return eb.and(c);
}

/**
 * The owner's rows with one of these ids: a generated id is found through the time it begins
 * with (the paging index), any other through the unique index of free ids.
 */
function idsFilter(eb: ArchiveEb, oid: number | OwnerOid, ids: string[]): Expression<SqlBool> {
  const terms: Expression<SqlBool>[] = [eb.and([eb("oid", "=", oid), eb("free", "=", 1), eb("id", "in", ids)])];
  for (const id of ids) {
    const t = archiveIdTime(id);
    if (t >= 0) terms.push(eb.and([eb("oid", "=", oid), eb("when", "=", t), eb("id", "=", id)]));
  }
  return eb.or(terms);
}

/**
 * Strictly after (`>`) or before (`<`) a position in store order (when, seq). A row-value
 * comparison (SQLite ≥ 3.15, PostgreSQL) lets the planner seek the (…, when, seq) index; the
 * equivalent OR form made SQLite scan the owner's rows up to the anchor.
 */
function beyond(eb: ArchiveEb, op: ">" | "<", p: Position, byIds: boolean): Expression<SqlBool> {
  // with ids, the id look-ups choose the index (archiveFilters)
  if (byIds) return sql<SqlBool>`(+"when", seq) ${sql.raw(op)} (${p.when}, ${p.seq})`;
  return eb(eb.refTuple("when", "seq"), op, eb.tuple(p.when, p.seq));
}

/** The owner's number as a subquery, for statements compiled here and run by the worker. */
type OwnerOid = SelectQueryBuilder<WarblerSchema, "arc.owners", { oid: number }>;
function ownerOid(db: Db, store: string, owner: string): OwnerOid {
  return db.selectFrom("arc.owners").select("oid").where("store", "=", store).where("owner", "=", owner);
}

/** An archive item with its seq and its value as stored text. */
interface StoredItem extends Position {
  id: string;
  with: string;
  value: string;
}

/**
 * Chunks whose head may name a peer: its JSON text holds the address as a JSON string (an exact
 * test follows on the decoded items), so chunks of other conversations are not decoded.
 */
function namesPeer(peer: string): Expression<SqlBool> {
  return sql<SqlBool>`instr(head, ${JSON.stringify(peer)}) > 0`;
}

type ChunkWindow = { lo: number | undefined; hi: number | undefined };

/**
 * Chunks whose times meet the window. A chunk spans less than CHUNK_SPAN_MS, so each bound of
 * the window bounds both columns, and either index can seek.
 */
function meetsWindow<O>(qb: SelectQueryBuilder<WarblerSchema, "arc.chunks", O>, w: ChunkWindow): SelectQueryBuilder<WarblerSchema, "arc.chunks", O> {
  let b = qb;
  if (w.lo !== undefined) b = b.where("hi", ">=", w.lo).where("lo", ">", w.lo - CHUNK_SPAN_MS);
  if (w.hi !== undefined) b = b.where("lo", "<=", w.hi).where("hi", "<", w.hi + CHUNK_SPAN_MS);
  return b;
}

/** The owner's chunks that may hold one of `ids` within the window, each once. */
async function chunksHolding(trx: Db, oid: number, ids: string[], w: ChunkWindow): Promise<ChunkHead[]> {
  const out = new Map<number, ChunkHead>();
  for (const t of idTimes(ids)) {
    if ((w.lo !== undefined && t < w.lo) || (w.hi !== undefined && t > w.hi)) continue;
    for (const c of await chunksAt(trx, oid, t)) out.set(c.cid, c);
  }
  return [...out.values()];
}

/** The owner's chunks whose times hold `t` (a point: the span bounds the search). */
async function chunksAt(trx: Db, oid: number, t: number): Promise<ChunkHead[]> {
  const rows = await trx
    .selectFrom("arc.chunks")
    .select(["cid", "seq0", "head"])
    .where("oid", "=", oid)
    .where("hi", ">=", t)
    .where("hi", "<", t + CHUNK_SPAN_MS)
    .where("lo", "<=", t)
    .execute();
  return rows.map((r) => ({ cid: Number(r.cid), seq0: Number(r.seq0), head: r.head }));
}

/** The number of an archive owner, if it has ever had an item. */
async function oidOf(trx: Db, store: string, owner: string): Promise<number | undefined> {
  const row = await trx.selectFrom("arc.owners").select("oid").where("store", "=", store).where("owner", "=", owner).executeTakeFirst();
  return row === undefined ? undefined : Number(row.oid);
}

/**
 * The statements that insert one archive item, numbering its owner if new; an id the owner's
 * archive holds already fails them with a unique violation.
 */
function itemInsert(db: Db, row: LogRow): CompiledQuery[] {
  // A given id goes in as free (its unique index finds a duplicate among free ids); a generated
  // id given back (an import of this server's own export) may also be a row's generated id: the
  // insert then changes nothing, which callers read as a conflict too.
  const oid = sql`(select oid from arc.owners where store = ${row.store} and owner = ${row.owner})`;
  const t = archiveIdTime(row.id);
  const taken =
    t < 0
      ? sql`0`
      : sql`(exists (select 1 from arc.items where oid = ${oid} and "when" = ${t} and id = ${row.id} and free = 0)
          or exists (select 1 from arc.chunks where oid = ${oid} and hi >= ${t} and hi < ${t + CHUNK_SPAN_MS} and lo <= ${t}
            and warbler_chunk_has(head, ${row.id})))`;
  return [
    db.insertInto("arc.owners").values({ store: row.store, owner: row.owner }).onConflict((oc) => oc.doNothing()).compile(),
    sql`insert into arc.items (oid, id, "when", "with", withh, value, free)
      select ${oid}, ${row.id}, ${row.when}, ${row.with}, ${hash53(row.with)}, ${row.value}, 1 where not ${taken}`.compile(db),
  ];
}

function sqliteBackend(
  db: Kysely<WarblerSchema>,
  now: () => number,
  checkpointer: Checkpointer | undefined,
  file: SnapshotSource,
  archiveLog?: ArchiveLog,
): StorageBackend {
  let closed = false;
  function open(): void {
    if (closed) throw new StorageError("closed", "storage backend is closed");
  }

  // Group commit: archive appends requested in the same event-loop turn are written together:
  // to the append log (a file), or for an in-memory database into the archive, in one
  // transaction. They share one promise, which resolves only once all their rows are written.
  // With the append log, a queued row is encoded into the log's batch at once (bytes outside the
  // JavaScript heap) and only counted here; without it (in memory) the rows wait in `pending`.
  let pending: LogRow[] = [];
  let added = 0;
  let pendingDone: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;
  let flushing: Promise<void> | undefined;
  let flushScheduled = false;
  let insertHere: ((rows: unknown[][]) => number) | undefined;
  let execHere: ((ops: ArchiveWrite[]) => number[]) | undefined;
  // The last string value appended, known to be stored as itself: a message's two copies
  // (sender's and recipient's archive) come as the same string, and the log then writes it once.
  // PRIVACY: kept until the turn's flush only.
  let lastPlain: string | undefined;
  const scheduledFlush = () => {
    flushScheduled = false;
    lastPlain = undefined;
    void flushAppends();
  };
  function queueAppend(row: LogRow): Promise<void> {
    if (archiveLog) {
      archiveLog.add(row);
      added++;
    } else pending.push(row);
    if (pendingDone === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      pendingDone = { promise, resolve, reject };
    }
    // One flush per turn for whatever is queued by then (also rows queued while a flush ends)
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(scheduledFlush);
    }
    return pendingDone.promise;
  }
  async function flushAppends(): Promise<void> {
    if (flushing) return flushing;
    flushing = (async () => {
      while (pending.length > 0 || added > 0) {
        const batch = pending;
        const done = pendingDone!;
        pending = [];
        added = 0;
        pendingDone = undefined;
        try {
          if (archiveLog) archiveLog.commit();
          else {
            // Holding kysely's only connection, so the transaction is ours alone. Generated ids
            // are never taken (given ids take the direct path in append).
            insertHere ??= archiveInserter(file.raw, "arc");
            const insert = insertHere;
            const rows = batch.map((r) => [r.store, r.owner, r.id, r.when, r.with, storedText(r)]);
            await db.connection().execute(async () => file.raw.transaction(() => insert(rows))());
          }
          done.resolve();
        } catch (err) {
          done.reject(err);
        }
      }
    })();
    try {
      await flushing;
    } finally {
      flushing = undefined;
    }
  }

  /** Every append accepted so far is in the archive (readers call this first). */
  async function settle(): Promise<void> {
    await flushAppends();
    await archiveLog?.settle();
  }

  /**
   * Writes to the archive in one transaction, after every append accepted so far: through the
   * append log's worker, the archive file's one writer (the event loop never waits for its lock),
   * or here for an in-memory database. Deletions drain: no log segment keeps a copy afterwards.
   */
  async function archiveWrite(queries: (CompiledQuery | { chunks: ChunkSelection })[], drain: boolean): Promise<number[]> {
    await flushAppends();
    const ops = queries.map((q): ArchiveWrite => ("chunks" in q ? q : { sql: q.sql, params: q.parameters }));
    if (archiveLog) return archiveLog.write(ops, { drain });
    // Holding kysely's only connection, so the transaction is ours alone
    execHere ??= archiveExecutor(file.raw);
    const exec = execHere;
    return db.connection().execute(async () => exec(ops));
  }

  function kv<T>(store: string): KvStore<T> {
    return {
      async get(owner) {
        open();
        const row = await db
          .selectFrom("kv")
          .select("value")
          .where("store", "=", store)
          .where("owner", "=", owner)
          .executeTakeFirst();
        return row === undefined ? undefined : decodeValue<T>(row.value);
      },
      async set(owner, value) {
        open();
        if (value === undefined) {
          await db.deleteFrom("kv").where("store", "=", store).where("owner", "=", owner).execute();
          return;
        }
        const text = encodeValue(value);
        const updated = now();
        await db
          .insertInto("kv")
          .values({ store, owner, value: text, updated })
          .onConflict((oc) => oc.columns(["store", "owner"]).doUpdateSet({ value: text, updated }))
          .execute();
      },
      async owners(suffix) {
        open();
        let qb = db.selectFrom("kv").select("owner").where("store", "=", store);
        // LIKE narrows (case-insensitively for ASCII in SQLite); endsWith makes it exact.
        if (suffix !== undefined) qb = qb.where(endsWithLike("owner", suffix));
        const rows = await qb.orderBy("owner").execute();
        const owners = rows.map((r) => r.owner);
        return suffix === undefined ? owners : owners.filter((o) => o.endsWith(suffix));
      },
    };
  }

  function map<T>(store: string): MapStore<T> {
    async function put(trx: Db, owner: string, key: string, text: string | undefined, updated: number): Promise<void> {
      if (text === undefined) {
        await trx.deleteFrom("map").where("store", "=", store).where("owner", "=", owner).where("key", "=", key).execute();
        return;
      }
      await trx
        .insertInto("map")
        .values({ store, owner, key, value: text, updated })
        .onConflict((oc) => oc.columns(["store", "owner", "key"]).doUpdateSet({ value: text, updated }))
        .execute();
    }
    return {
      async get(owner, key) {
        open();
        const row = await db
          .selectFrom("map")
          .select("value")
          .where("store", "=", store)
          .where("owner", "=", owner)
          .where("key", "=", key)
          .executeTakeFirst();
        return row === undefined ? undefined : decodeValue<T>(row.value);
      },
      async set(owner, key, value) {
        open();
        await put(db, owner, key, value === undefined ? undefined : encodeValue(value), now());
      },
      async setMany(owner, entries) {
        open();
        // Encode first so a bad value fails before anything is written; the transaction makes
        // the batch atomic against crashes and concurrent readers.
        const encoded = Object.entries(entries).map(
          ([k, v]): [string, string | undefined] => [k, v === undefined ? undefined : encodeValue(v)],
        );
        if (encoded.length === 0) return;
        const updated = now();
        await db.transaction().execute(async (trx) => {
          for (const [k, text] of encoded) await put(trx, owner, k, text, updated);
        });
      },
      async getAll(owner) {
        open();
        const rows = await db
          .selectFrom("map")
          .select(["key", "value"])
          .where("store", "=", store)
          .where("owner", "=", owner)
          .orderBy("key")
          .execute();
        return new Map(rows.map((r) => [r.key, decodeValue<T>(r.value)]));
      },
      async clear(owner) {
        open();
        const res = await db.deleteFrom("map").where("store", "=", store).where("owner", "=", owner).executeTakeFirst();
        return n(res.numDeletedRows);
      },
    };
  }

  function archive<T>(store: string): ArchiveStore<T> {
    /** A generated id (its time prefix is `when`), queued for the next group commit. */
    function appendSoon(owner: string, item: { when?: number; with?: string; value: T }): { id: string; durable: Promise<void> } {
      open();
      const when = item.when === undefined ? now() : checkTime("when", item.when);
      const id = newArchiveId(when);
      // A string is stored as itself (the log adds the prefix as it writes); a message's second
      // copy is the same string, known to be well-formed already
      let value: string;
      let plain = true;
      if (typeof item.value === "string" && item.value === lastPlain) value = item.value;
      else if (isPlain(item.value)) value = lastPlain = item.value;
      else {
        value = encodeValue(item.value);
        plain = false;
      }
      return { id, durable: queueAppend({ store, owner, id, when, with: item.with ?? "", value, plain }) };
    }

    async function position(trx: Db, oid: number | undefined, id: string | undefined): Promise<Position | undefined> {
      if (id === undefined) return undefined;
      const t = archiveIdTime(id);
      const find = (own: number, byTime: boolean) =>
        trx
          .selectFrom("arc.items")
          .select(["when", "seq"])
          .where("oid", "=", own)
          .where((eb) => (byTime ? eb("when", "=", t) : eb("free", "=", 1)))
          .where("id", "=", id)
          .executeTakeFirst();
      // a generated id through its time (the paging index, then the chunks of that time), any
      // other through the free ids
      const row = oid === undefined ? undefined : ((t >= 0 ? await find(oid, true) : undefined) ?? (await find(oid, false)));
      if (row !== undefined) return { when: Number(row.when), seq: Number(row.seq) };
      if (oid !== undefined && t >= 0) {
        for (const c of await chunksAt(trx, oid, t)) {
          const e = entriesOf(c).find((x) => x.id === id);
          if (e !== undefined) return { when: e.when, seq: e.seq };
        }
      }
      // XEP-0059 §2.4: an anchor that is not in the archive is item-not-found.
      throw new StorageError("item-not-found", "no archive item with that id");
    }

    /** How many items of the owner's chunks match the filters. */
    async function chunkCount(trx: Db, oid: number, q: NormalizedQuery): Promise<number> {
      const w = chunkWindow(q);
      if (w === null) return 0;
      const f = entryFilter(q);
      let total = 0;
      const tally = (chunks: ChunkHead[]) => {
        for (const c of chunks) for (const e of entriesOf(c)) if (matches(e, f)) total++;
      };
      if (q.ids !== undefined) {
        // each generated id's time is a point in few chunks
        tally(await chunksHolding(trx, oid, q.ids, w));
        return total;
      }
      const heads = () => trx.selectFrom("arc.chunks").select(["cid", "seq0", "head"]).where("oid", "=", oid);
      if (q.with !== undefined) {
        // every head in the window that names the peer is read (the peer is in the heads only)
        tally(await meetsWindow(heads().where(namesPeer(q.with)), w).execute());
        return total;
      }
      // Chunks wholly within the bounds count whole, from the index; only those across a bound
      // (a span's worth of time on either side) are read.
      let inside = trx.selectFrom("arc.chunks").select((eb) => eb.fn.sum<number>("n").as("total")).where("oid", "=", oid);
      if (w.lo !== undefined) inside = inside.where("lo", ">=", w.lo);
      if (w.hi !== undefined) inside = inside.where("hi", "<=", w.hi);
      total += Number((await inside.executeTakeFirst())?.total ?? 0);
      const across = new Map<number, ChunkHead>();
      if (w.lo !== undefined) {
        let qb = heads().where("hi", ">=", w.lo).where("hi", "<", w.lo + CHUNK_SPAN_MS).where("lo", "<", w.lo);
        if (w.hi !== undefined) qb = qb.where("lo", "<=", w.hi);
        for (const c of await qb.execute()) across.set(c.cid, c);
      }
      if (w.hi !== undefined) {
        let qb = heads().where("hi", ">", w.hi).where("hi", "<", w.hi + CHUNK_SPAN_MS).where("lo", "<=", w.hi);
        if (w.lo !== undefined) qb = qb.where("hi", ">=", w.lo);
        for (const c of await qb.execute()) across.set(c.cid, c);
      }
      tally([...across.values()]);
      return total;
    }

    /**
     * The page's entries from the owner's chunks (at most `need`, in paging order): chunks are
     * walked in paging order through an index (by lowest time going forward, by highest going
     * backward), a few first and more as the walk goes on, heads only, until no further chunk can
     * change the page. With ids, only the chunks holding their times are read.
     */
    async function chunkPage(
      trx: Db,
      oid: number,
      q: NormalizedQuery,
      after: Position | undefined,
      before: Position | undefined,
      need: number | undefined,
    ): Promise<ChunkEntry[]> {
      const w = chunkWindow(q, after, before);
      if (w === null || need === 0) return [];
      const f = entryFilter(q);
      const page = new PageCollector(need, q.fromEnd);
      const take = (c: ChunkHead) => {
        for (const e of entriesOf(c)) {
          if (!matches(e, f)) continue;
          if (after !== undefined && compare(e, after) <= 0) continue;
          if (before !== undefined && compare(e, before) >= 0) continue;
          page.add(e);
        }
      };
      if (q.ids !== undefined) {
        for (const c of await chunksHolding(trx, oid, q.ids, w)) take(c);
        return page.result();
      }
      let cursor: { cid: number; lo: number; hi: number; n: number } | undefined;
      for (let batch = 4; ; batch = Math.min(batch * 4, 256)) {
        let qb = meetsWindow(trx.selectFrom("arc.chunks").select(["cid", "seq0", "head", "lo", "hi", "n"]).where("oid", "=", oid), w);
        if (q.with !== undefined) qb = qb.where(namesPeer(q.with));
        if (q.fromEnd) {
          // newest first, in the order of the (oid, hi, lo, n) index
          const c = cursor;
          if (c !== undefined) qb = qb.where(sql<SqlBool>`(hi, lo, n, cid) < (${c.hi}, ${c.lo}, ${c.n}, ${c.cid})`);
          qb = qb.orderBy("hi", "desc").orderBy("lo", "desc").orderBy("n", "desc").orderBy("cid", "desc");
        } else {
          // oldest first, in the order of the (oid, lo, hi) index
          const c = cursor;
          if (c !== undefined) qb = qb.where(sql<SqlBool>`(lo, hi, cid) > (${c.lo}, ${c.hi}, ${c.cid})`);
          qb = qb.orderBy("lo").orderBy("hi").orderBy("cid");
        }
        const chunks = await qb.limit(batch).execute();
        for (const c of chunks) {
          if (page.settledBefore(Number(c.lo), Number(c.hi))) return page.result();
          take(c);
        }
        if (chunks.length < batch) return page.result();
        const last = chunks[chunks.length - 1]!;
        cursor = { cid: Number(last.cid), lo: Number(last.lo), hi: Number(last.hi), n: Number(last.n) };
      }
    }

    /** The values of chunk entries, read from their chunks' bodies. */
    async function chunkValues(trx: Db, entries: ChunkEntry[]): Promise<Map<ChunkEntry, string>> {
      const out = new Map<ChunkEntry, string>();
      const cids = [...new Set(entries.map((e) => e.cid))];
      for (let i = 0; i < cids.length; i += 500) {
        const rows = await trx.selectFrom("arc.chunks").select(["cid", "body"]).where("cid", "in", cids.slice(i, i + 500)).execute();
        const bodies = new Map(rows.map((r) => [Number(r.cid), r.body]));
        for (const e of entries) {
          const body = bodies.get(e.cid);
          if (body !== undefined) out.set(e, valueText(body, e));
        }
      }
      return out;
    }

    async function runQuery(trx: Db, owner: string, q: NormalizedQuery): Promise<ArchiveResult<T>> {
      const oid = await oidOf(trx, store, owner);
      const afterPos = await position(trx, oid, q.after);
      const beforePos = await position(trx, oid, q.before);
      if (oid === undefined || (q.ids !== undefined && q.ids.length === 0)) return { items: [], complete: true, count: 0 };

      const countRow = await trx
        .selectFrom("arc.items")
        .select((eb) => eb.fn.countAll().as("count"))
        .where((eb) => archiveFilters(eb, oid, q))
        .executeTakeFirstOrThrow();
      const count = Number(countRow.count) + (await chunkCount(trx, oid, q));

      // One item more than asked tells whether the range goes on past the page.
      const need = q.limit === undefined ? undefined : q.limit + 1;
      const dir = q.fromEnd ? "desc" : "asc";
      let qb = trx
        .selectFrom("arc.items")
        .select(["id", "when", "with", "value", "seq"])
        .where((eb) => {
          const c = [archiveFilters(eb, oid, q)];
          if (afterPos !== undefined) c.push(beyond(eb, ">", afterPos, q.ids !== undefined));
          if (beforePos !== undefined) c.push(beyond(eb, "<", beforePos, q.ids !== undefined));
          return eb.and(c);
        })
        .orderBy("when", dir)
        .orderBy("seq", dir);
      if (need !== undefined) qb = qb.limit(need);
      const rows = (await qb.execute()).map((r) => ({ id: r.id, when: Number(r.when), with: r.with, seq: Number(r.seq), value: r.value }));
      const entries = await chunkPage(trx, oid, q, afterPos, beforePos, need);
      const page = mergePages<{ id: string; when: number; with: string; seq: number; value?: string }, ChunkEntry>(rows, entries, q.fromEnd, need);

      let complete = true;
      if (q.limit !== undefined && page.length > q.limit) {
        complete = false;
        page.length = q.limit;
      }
      if (q.fromEnd) page.reverse();
      const values = await chunkValues(trx, page.filter((r): r is ChunkEntry => "cid" in r));
      const items: ArchiveItem<T>[] = page.map((r) => ({
        id: r.id,
        when: r.when,
        with: r.with,
        value: decodeValue<T>("cid" in r ? values.get(r)! : r.value!),
      }));
      return { items, complete, count };
    }

    return {
      appendSoon,

      async append(owner, item) {
        if (item.id === undefined) {
          const { id, durable } = appendSoon(owner, item);
          await durable;
          return id;
        }
        open();
        const when = item.when === undefined ? now() : checkTime("when", item.when);
        if (item.id === "") throw new StorageError("bad-argument", "archive id must not be empty");
        const value = encodeValue(item.value);
        // A given id (imports, PEP items) must be checked against the archive: it goes in as a
        // write, after everything appended before it, so store order stays arrival order.
        let changes: number[];
        try {
          changes = await archiveWrite(itemInsert(db, { store, owner, id: item.id, when, with: item.with ?? "", value }), false);
        } catch (err) {
          throw isUniqueViolation(err) ? new StorageError("conflict", "archive id already exists") : err;
        }
        if (changes[changes.length - 1] === 0) throw new StorageError("conflict", "archive id already exists");
        return item.id;
      },

      async query(owner, query) {
        open();
        const q = normalizeQuery(query);
        await settle();
        // One read transaction: the count and the page come from the same snapshot.
        return db.transaction().execute((trx) => runQuery(trx, owner, q));
      },

      async delete(owner, q) {
        open();
        if (q?.ids !== undefined && q.ids.length === 0) return 0;
        const end = q?.end === undefined ? undefined : checkTime("end", q.end);
        const [rows, chunked] = await archiveWrite(
          [
            db
              .deleteFrom("arc.items")
              .where((eb) => archiveFilters(eb, ownerOid(db, store, owner), { with: q?.with, end, ids: q?.ids }))
              .compile(),
            { chunks: { store, owner, with: q?.with, end, ids: q?.ids } },
          ],
          true,
        );
        return (rows ?? 0) + (chunked ?? 0);
      },
    };
  }

  return {
    kind: "sqlite",
    kv: <T>(store: string) => kv<T>(store),
    map: <T>(store: string) => map<T>(store),
    archive: <T>(store: string) => archive<T>(store),

    async purgeOwner(owner, stores) {
      open();
      const names = [...new Set(stores)];
      // The archive first (its own file and writer), then the rest in one transaction
      const archived = await archiveWrite(
        names.flatMap((store) => [
          db.deleteFrom("arc.items").where((eb) => eb("oid", "=", ownerOid(db, store, owner))).compile(),
          { chunks: { store, owner } },
          // PRIVACY: the owner's number names it; it goes with its last item
          db.deleteFrom("arc.owners").where("store", "=", store).where("owner", "=", owner).compile(),
        ]),
        true,
      );
      return db.transaction().execute(async (trx) => {
        const counts: Record<string, number> = {};
        for (const [i, store] of names.entries()) {
          let total = (archived[3 * i] ?? 0) + (archived[3 * i + 1] ?? 0);
          for (const table of ["kv", "map"] as const) {
            const res = await trx.deleteFrom(table).where("store", "=", store).where("owner", "=", owner).executeTakeFirst();
            total += n(res.numDeletedRows);
          }
          counts[store] = total;
        }
        return counts;
      });
    },

    async expire(store, beforeMs) {
      open();
      checkTime("beforeMs", beforeMs);
      const [c, d] = await archiveWrite(
        [
          db
            .deleteFrom("arc.items")
            .where((eb) => eb("oid", "in", eb.selectFrom("arc.owners").select("oid").where("store", "=", store)))
            .where("when", "<", beforeMs)
            .compile(),
          { chunks: { store, before: beforeMs } },
        ],
        true,
      );
      return db.transaction().execute(async (trx) => {
        const a = await trx.deleteFrom("kv").where("store", "=", store).where("updated", "<", beforeMs).executeTakeFirst();
        const b = await trx.deleteFrom("map").where("store", "=", store).where("updated", "<", beforeMs).executeTakeFirst();
        return n(a.numDeletedRows) + n(b.numDeletedRows) + (c ?? 0) + (d ?? 0);
      });
    },

    async dumpOwner(owner, store) {
      open();
      await settle();
      return db.transaction().execute(async (trx) => {
        const out: DumpedRow[] = [];
        const kvRow = await trx
          .selectFrom("kv")
          .select("value")
          .where("store", "=", store)
          .where("owner", "=", owner)
          .executeTakeFirst();
        if (kvRow !== undefined) out.push({ shape: "kv", value: decodeValue(kvRow.value) });
        const mapRows = await trx
          .selectFrom("map")
          .select(["key", "value"])
          .where("store", "=", store)
          .where("owner", "=", owner)
          .orderBy("key")
          .execute();
        for (const r of mapRows) out.push({ shape: "map", key: r.key, value: decodeValue(r.value) });
        const oid = await oidOf(trx, store, owner);
        // (inside kysely's transaction, on its one connection)
        if (oid !== undefined) {
          for (const r of ownerStream(file.raw, oid)) out.push({ shape: "archive", id: r.id, when: r.when, with: r.with, value: decodeValue(r.value) });
        }
        return out;
      });
    },

    async countMentions(needle) {
      open();
      await settle();
      return db.transaction().execute(async (trx) => {
        const a = await trx
          .selectFrom("kv")
          .select((eb) => eb.fn.countAll().as("count"))
          .where((eb) => eb.or([contains("owner", needle), contains("value", needle)]))
          .executeTakeFirstOrThrow();
        const b = await trx
          .selectFrom("map")
          .select((eb) => eb.fn.countAll().as("count"))
          .where((eb) => eb.or([contains("owner", needle), contains("key", needle), contains("value", needle)]))
          .executeTakeFirstOrThrow();
        // An item counts once, whether its owner, id, peer or value names the needle; an owner
        // with no item left counts by itself.
        const c = await trx
          .selectFrom("arc.items as i")
          .innerJoin("arc.owners as o", "o.oid", "i.oid")
          .select((eb) => eb.fn.countAll().as("count"))
          .where((eb) => eb.or([contains("o.owner", needle), contains("i.id", needle), contains("i.with", needle), contains("i.value", needle)]))
          .executeTakeFirstOrThrow();
        const d = await trx
          .selectFrom("arc.owners as o")
          .select((eb) => eb.fn.countAll().as("count"))
          .where(contains("o.owner", needle))
          .where((eb) => eb.not(eb.exists(eb.selectFrom("arc.items as i").select("i.seq").whereRef("i.oid", "=", "o.oid"))))
          .where((eb) => eb.not(eb.exists(eb.selectFrom("arc.chunks as c").select("c.cid").whereRef("c.oid", "=", "o.oid"))))
          .executeTakeFirstOrThrow();
        // Chunks: those that may name it (the head is JSON, where the needle is escaped), then item by item
        const inJson = JSON.stringify(needle).slice(1, -1);
        const chunks = await trx
          .selectFrom("arc.chunks as c")
          .innerJoin("arc.owners as o", "o.oid", "c.oid")
          .select(["o.owner", "c.cid", "c.seq0", "c.head", "c.body"])
          .where((eb) => eb.or([contains("o.owner", needle), contains("c.head", inJson), contains("c.body", needle)]))
          .execute();
        let e = 0;
        for (const c of chunks) {
          for (const x of entriesOf(c)) {
            if (c.owner.includes(needle) || x.id.includes(needle) || x.with.includes(needle) || valueText(c.body, x).includes(needle)) e++;
          }
        }
        return Number(a.count) + Number(b.count) + Number(c.count) + Number(d.count) + e;
      });
    },

    async countRows() {
      open();
      await settle();
      const out: Record<string, number> = {};
      for (const table of ["kv", "map"] as const) {
        const rows = await db
          .selectFrom(table)
          .select((eb) => ["store", eb.fn.countAll().as("count")])
          .groupBy("store")
          .execute();
        for (const r of rows) out[r.store] = (out[r.store] ?? 0) + Number(r.count);
      }
      const rows = await db
        .selectFrom("arc.items as i")
        .innerJoin("arc.owners as o", "o.oid", "i.oid")
        .select((eb) => ["o.store", eb.fn.countAll().as("count")])
        .groupBy("o.store")
        .execute();
      for (const r of rows) out[r.store] = (out[r.store] ?? 0) + Number(r.count);
      const chunked = await db
        .selectFrom("arc.chunks as c")
        .innerJoin("arc.owners as o", "o.oid", "c.oid")
        .select((eb) => ["o.store", eb.fn.sum<number>("c.n").as("count")])
        .groupBy("o.store")
        .execute();
      for (const r of chunked) out[r.store] = (out[r.store] ?? 0) + Number(r.count);
      return out;
    },
    snapshot: () => snapshotRows(file, db, open, settle),
    restoreRows: (rows) => restoreSnapshotRows(db, open, rows),

    async close() {
      if (closed) return;
      closed = true;
      await flushAppends(); // appends already accepted are committed before closing
      await archiveLog?.close(); // and moved into the archive
      await checkpointer?.stop();
      // Fold the WAL into the main file so a closed database is one self-contained file.
      await sql`pragma wal_checkpoint(TRUNCATE)`.execute(db);
      await db.destroy();
    },
  };
}

// ---- Whole-database snapshot and restore (backups) -------------------------------------------
// Kept apart from the append path: these read and write the tables directly.

/** Where a snapshot reads from: the main connection, and the file for a second connection. */
interface SnapshotSource {
  raw: Database.Database;
  /** The database file; undefined for ":memory:". */
  path: string | undefined;
}

type RawKv = { store: string; owner: string; value: string; updated: number };
type RawMap = RawKv & { key: string };
type RawOwner = { oid: number; store: string; owner: string };
type RawItem = { seq: number; id: string; when: number; with: string; value: string };
type RawChunk = { cid: number; lo: number; hi: number; seq0: number; head: string; body: string };

// SQLite-specific SQL (better-sqlite3 statements): a streaming cursor has no kysely equivalent.
const SNAPSHOT_SQL = {
  kv: "select store, owner, value, updated from kv order by store, owner",
  map: "select store, owner, key, value, updated from map order by store, owner, key",
  // owner by owner: its rows through the paging index and its chunks oldest first, merged; in
  // batches (one statement at a time on the connection), so no owner is read whole into memory
  owners: "select oid, store, owner from arc.owners order by store, owner",
  items: 'select seq, id, "when", "with", value from arc.items where oid = ? and ("when", seq) > (?, ?) order by "when", seq limit 500',
  chunks: "select cid, lo, hi, seq0, head, body from arc.chunks where oid = ? and (lo, hi, cid) > (?, ?, ?) order by lo, hi, cid limit 32",
} as const;

/**
 * An owner's items in store order, from its rows and its chunks: a chunk's items are held until
 * the next chunk begins after them (chunks come by their lowest time), merged with the rows.
 */
function* ownerStream(conn: Database.Database, oid: number): Generator<StoredItem> {
  const itemsSql = conn.prepare(SNAPSHOT_SQL.items);
  const chunksSql = conn.prepare(SNAPSHOT_SQL.chunks);
  function* rows(): Generator<StoredItem> {
    let at: [number, number] = [-Infinity, -Infinity];
    for (;;) {
      const batch = itemsSql.all(oid, ...at) as RawItem[];
      for (const r of batch) yield { id: r.id, when: Number(r.when), with: r.with, seq: Number(r.seq), value: r.value };
      if (batch.length < 500) return;
      const last = batch[batch.length - 1]!;
      at = [Number(last.when), Number(last.seq)];
    }
  }
  function* chunks(): Generator<RawChunk> {
    let at: [number, number, number] = [-Infinity, -Infinity, -Infinity];
    for (;;) {
      const batch = chunksSql.all(oid, ...at) as RawChunk[];
      yield* batch;
      if (batch.length < 32) return;
      const last = batch[batch.length - 1]!;
      at = [Number(last.lo), Number(last.hi), Number(last.cid)];
    }
  }
  const fromRows = rows();
  let row = fromRows.next();
  let held: StoredItem[] = [];
  // everything before `limit` (all with none) in store order
  function* release(limit: number): Generator<StoredItem> {
    held.sort(compare);
    let i = 0;
    for (;;) {
      const h = held[i];
      const next = !row.done && (h === undefined || compare(row.value, h) < 0) ? row.value : h;
      if (next === undefined || next.when >= limit) break;
      yield next;
      if (next === h) i++;
      else row = fromRows.next();
    }
    held = held.slice(i);
  }
  for (const c of chunks()) {
    yield* release(Number(c.lo));
    for (const e of entriesOf(c)) held.push({ id: e.id, when: e.when, with: e.with, seq: e.seq, value: valueText(c.body, e) });
  }
  yield* release(Infinity);
}

function* rowsFrom(conn: Database.Database): Generator<SnapshotRow> {
  for (const r of conn.prepare(SNAPSHOT_SQL.kv).iterate() as IterableIterator<RawKv>) {
    yield { shape: "kv", store: r.store, owner: r.owner, value: r.value, updated: Number(r.updated) };
  }
  for (const r of conn.prepare(SNAPSHOT_SQL.map).iterate() as IterableIterator<RawMap>) {
    yield { shape: "map", store: r.store, owner: r.owner, key: r.key, value: r.value, updated: Number(r.updated) };
  }
  for (const o of conn.prepare(SNAPSHOT_SQL.owners).all() as RawOwner[]) {
    for (const r of ownerStream(conn, o.oid)) {
      yield { shape: "archive", store: o.store, owner: o.owner, seq: r.seq, id: r.id, when: r.when, with: r.with, value: r.value };
    }
  }
}

/**
 * A file database is read through a second, read-only connection inside one read transaction:
 * WAL gives it a stable snapshot while the server goes on writing through the first. An
 * in-memory database has no second connection; it is read at once while holding the connection.
 */
function snapshotRows(
  src: SnapshotSource,
  db: Kysely<WarblerSchema>,
  open: () => void,
  settle: () => Promise<void>,
): AsyncIterable<SnapshotRow> {
  return {
    async *[Symbol.asyncIterator]() {
      open();
      await settle(); // appends accepted before the snapshot are in it (moved out of the archive log)
      if (src.path === undefined) {
        // Holding kysely's only connection: no transaction of ours is half-done meanwhile.
        const all = await db.connection().execute(async () => [...rowsFrom(src.raw)]);
        yield* all;
        return;
      }
      const reader = new Database(src.path, { readonly: true, fileMustExist: true });
      try {
        reader.pragma("busy_timeout = 5000");
        reader.prepare("attach database ? as arc").run(archivePathFor(src.path)); // read-only too
        reader.exec("begin"); // deferred: the snapshot is fixed by the first read
        let i = 0;
        for (const row of rowsFrom(reader)) {
          yield row;
          // Let the event loop breathe on long runs when the consumer is synchronous.
          if (++i % 1000 === 0) await new Promise<void>((r) => setImmediate(r));
        }
        reader.exec("commit");
      } finally {
        reader.close(); // also ends the read transaction when the consumer stopped early
      }
    },
  };
}

/** Rows per restore transaction. */
const RESTORE_BATCH = 1000;

async function restoreSnapshotRows(
  db: Kysely<WarblerSchema>,
  open: () => void,
  rows: AsyncIterable<SnapshotRow> | Iterable<SnapshotRow>,
): Promise<number> {
  open();
  let total = 0;
  let batch: SnapshotRow[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const b = batch;
    batch = [];
    open();
    try {
      await db.transaction().execute(async (trx) => {
        for (const r of b) {
          if (r.shape === "kv") {
            await trx.insertInto("kv").values({ store: r.store, owner: r.owner, value: r.value, updated: r.updated }).execute();
          } else if (r.shape === "map") {
            await trx.insertInto("map").values({ store: r.store, owner: r.owner, key: r.key, value: r.value, updated: r.updated }).execute();
          } else {
            // seq is assigned anew in the given order: the store order survives, not the numbers.
            let changed = 0n;
            for (const q of itemInsert(trx, r)) changed = (await trx.executeQuery(q)).numAffectedRows ?? 0n;
            if (changed === 0n) throw new StorageError("conflict", "restored row exists already");
          }
        }
      });
    } catch (err) {
      const conflict = isUniqueViolation(err) || (err instanceof StorageError && err.code === "conflict");
      throw conflict ? new StorageError("conflict", "restored row exists already") : err;
    }
    total += b.length;
  };
  for await (const r of rows) {
    checkRestoredRow(r);
    batch.push(r);
    if (batch.length >= RESTORE_BATCH) await flush();
  }
  await flush();
  return total;
}
