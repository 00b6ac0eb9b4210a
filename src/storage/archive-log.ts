// The archive of the SQLite backend lives in a database file of its own (`<db>-archive`), and its
// appends go through an append log: the event loop writes each group of rows as records to a
// plain segment file (`<db>-archive-append.<n>`, one write(2) per group, no index, no SQLite), and
// a worker thread moves them into the indexed archive in large transactions and deletes each
// segment once it has moved all of it. The worker is the archive file's one writer: other writes
// (deletions, items with given ids) are compiled on the main connection and run there, after the
// rows appended before them, so the event loop never waits for the archive's lock. Readers first
// wait until everything appended before them has been moved ("settle"); a deletion first closes
// the current segment, so when it is done no log file keeps a copy ("drain"). See
// docs/architecture.md, "Storage".
//
// Durability is SQLite's `synchronous = NORMAL`: a row is in the operating system's page cache
// when `append` returns, so it survives the process being killed (not a power loss), as a WAL
// commit would.
import * as fs from "node:fs";
import { closeSync, openSync, readdirSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import Database from "better-sqlite3";
import { ARCHIVE_ID_ALPHABET, PLAIN_PREFIX } from "./shared.js";

const require = createRequire(import.meta.url);

/** One archive row as the log holds it (the archive's columns but `seq` and the owner's number). */
export interface LogRow {
  store: string;
  owner: string;
  id: string;
  when: number;
  with: string;
  /** The stored text; with `plain`, the string that the stored text holds behind PLAIN_PREFIX. */
  value: string;
  /**
   * The value is a string stored as itself (encodeValue's plain form), given without the prefix:
   * the log writes the two apart, so the event loop never makes a prefixed copy of a message.
   */
  plain?: boolean;
}

/** The text a row stores (encodeValue's form). */
export function storedText(row: LogRow): string {
  return row.plain === true ? PLAIN_PREFIX + row.value : row.value;
}

/**
 * Rows moved per worker transaction. A transaction writes every index page it touched once, so
 * the cost per row falls steeply with the batch (about 50 µs per row at 500, 20 at 5000).
 */
const COMPACT_CHUNK = 10_000;

/** How often the worker looks at the log when nobody asks. */
const COMPACT_INTERVAL_MS = 100;

/** Unless asked (a reader settling), the worker moves rows once this many bytes wait (about 5000 rows)... */
const BATCH_BYTES = 2 * 1024 * 1024;
/** ...or the oldest has waited this long. */
const MAX_DELAY_MS = 1000;

/** The worker thread's scheduling priority (nice value; the main thread keeps its own). */
const WORKER_NICE = 10;

/** The buffer a batch's records are encoded in: its first size, and the most it is kept at. */
const OUT_BYTES = 64 * 1024;
const OUT_BYTES_KEPT = 1024 * 1024;

/** A segment is closed and a new one begun once it holds this many bytes. */
const SEGMENT_BYTES = 16 * 1024 * 1024;

/** The archive database that belongs to a database file. */
export function archivePathFor(dbPath: string): string {
  return `${dbPath}-archive`;
}

/** Segment `n` of the append log of a database file. */
export function segmentPathFor(dbPath: string, n: number): string {
  return `${dbPath}-archive-append.${n}`;
}

/** The lock that makes one process the append log's owner (see {@link openArchiveLog}). */
export function lockPathFor(dbPath: string): string {
  return `${dbPath}-archive-lock`;
}

/** The append log of earlier versions (an SQLite file); moved into the archive and removed at open. */
export function legacyLogPathFor(dbPath: string): string {
  return `${dbPath}-archive-log`;
}

/**
 * Every file the SQLite backend keeps for `dbPath` that exists now: the database, the archive,
 * their WAL and shared-memory files, append-log segments (and a legacy log).
 */
export function sqliteFilesFor(dbPath: string): string[] {
  const dir = dirname(dbPath);
  const base = basename(dbPath);
  const own = /^(|-wal|-shm|-archive|-archive-wal|-archive-shm|-archive-lock|-archive-lock-journal|-archive-log|-archive-log-wal|-archive-log-shm|-archive-append\.\d+)$/;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(base) && own.test(n.slice(base.length))).map((n) => join(dir, n));
}

function segmentsOf(dbPath: string): number[] {
  const prefix = basename(segmentPathFor(dbPath, 0)).slice(0, -1);
  return sqliteFilesFor(dbPath)
    .map((p) => basename(p))
    .filter((n) => n.startsWith(prefix))
    .map((n) => Number(n.slice(prefix.length)))
    .filter((n) => Number.isSafeInteger(n))
    .sort((a, b) => a - b);
}

// Plain JavaScript shared by the worker and the main thread (schema, the peer hash, inserting
// rows, reading segments), so it runs the same from src/ (tsx) and dist/.
const SHARED_SOURCE = `
// A 53-bit hash of a peer address, kept in the paging index for "with" filters (FNV-1a, twice
// with different offsets). Collisions only cost a row read: queries compare the address too.
function hash53(s) {
  let a = 0x811c9dc5, b = 0x050c5d1f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (b >>> 11) * 4294967296 + (a >>> 0);
}

// The archiving time a generated id begins with (shared.ts newArchiveId: 22 characters, the
// first 8 the time in milliseconds in an ASCII-ordered base64url alphabet), or -1 for any other id.
const ID_ALPHABET = ${JSON.stringify(ARCHIVE_ID_ALPHABET)};
function idTime(id) {
  if (typeof id !== "string" || id.length !== 22) return -1;
  let t = 0;
  for (let i = 0; i < 8; i++) {
    const v = ID_ALPHABET.indexOf(id[i]);
    if (v < 0) return -1;
    t = t * 64 + v;
  }
  return t;
}

// The archive schema, in schema 'p' ("main" in the worker, "arc" where it is attached). Owners
// are numbered, so index keys are small integers; store order is ("when", seq). Ids are unique
// per owner.
// - chunks (schema 3): the items the append log brings (every message), a row per owner, hour
//   and move: its items' ids, times and peers as JSON in "head" ([id, when, with, length of the
//   value, ...], in arrival order), their values one after another in "body", the range of their
//   times (lo, hi) and seq0, the seq of the first: item k's seq is seq0 + k (deleting items
//   from a chunk renumbers the rest within the same range, so order holds). Its ids are the
//   generated kind, found through the time they begin with. A chunk's items lie within one
//   CHUNK_SPAN_MS of time (one per owner per hour of "when" and move), so hi - lo is less than
//   that, and it holds at most CHUNK_ITEMS. The index (oid, hi, lo, n) answers from itself
//   which chunks a time range touches (bounded on both sides through the span) and how many
//   items they hold, and walks them newest first; (oid, lo, hi) walks them oldest first. A row
//   and two index entries per chunk instead of a row and an index entry per item: about a third
//   less of the writer's work per message (docs/benchmarks.md, "The archive in chunks").
// - items: one row per item, for items appended with a given id (PEP items, imports, restores:
//   free = 1, kept in a unique index) and the rows of earlier versions (free = 0: generated ids,
//   found through the paging index by their time). seq is the rowid; chunks take their seqs
//   from the same counter (sqlite_sequence), so arrival order holds across both.
function createArchiveSchema(db, p) {
  const version = db.pragma(p + ".user_version", { simple: true });
  if (version > 3) throw new Error("archive schema version " + version + " is newer than this server knows (3)");
  if (version === 3) return; // in place: no write (another process may be writing the archive)
  const v3 =
    "create table if not exists " + p + ".chunks (cid integer primary key, oid integer not null, lo integer not null," +
    " hi integer not null, n integer not null, seq0 integer not null, head text not null, body text not null);" +
    "create index if not exists " + p + ".chunks_hi on chunks (oid, hi, lo, n);" +
    "create index if not exists " + p + ".chunks_lo on chunks (oid, lo, hi);" +
    "pragma " + p + ".user_version = 3;";
  if (version === 2) {
    db.transaction(() => db.exec(v3))();
    return;
  }
  const v2 =
    // One index serves paging and the "with" filter: it carries the peer's hash, so a "with"
    // query scans the owner's range in the index alone and reads only matching rows. A separate
    // (oid, withh, "when") index made every move write nearly all its pages when many people
    // talk to many (each batch lands on as many places as there are conversations).
    "create index if not exists " + p + '.items_when on items (oid, "when", withh);' +
    "create unique index if not exists " + p + ".items_free on items (oid, id) where free = 1;";
  if (version === 1) {
    // Schema 1 kept every id in a unique (oid, id) index: its rows become free = 1, the same index
    db.transaction(() => db.exec(
      "alter table " + p + ".items add column free integer not null default 1;" + v2 +
      "drop index if exists " + p + ".items_id;" + v3))();
    return;
  }
  db.exec(
    "create table if not exists " + p + ".owners (oid integer primary key, store text not null, owner text not null, unique (store, owner));" +
    "create table if not exists " + p + ".items (seq integer primary key autoincrement, oid integer not null, id text not null," +
    ' "when" integer not null, "with" text not null, withh integer not null, value text not null, free integer not null default 1);' +
    v2 + v3);
}

const CHUNK_SPAN_MS = 3600000;
const CHUNK_ITEMS = 256;

// Whether a chunk's head holds an id.
function chunkHas(head, id) {
  const h = JSON.parse(head);
  for (let i = 0; i < h.length; i += 4) if (h[i] === id) return true;
  return false;
}

// Inserts rows ([store, owner, id, when, with, value]) into the archive in schema 'p'. Call inside
// a transaction. Rows with a generated id go into new chunks (per owner and hour, at most
// CHUNK_ITEMS each), others into items.
// Returns the number inserted. checked(true) for rows that may be there already (moved before a
// crash): those are skipped, at the cost of a look-up per row.
function inserter(db, p) {
  const addOwner = db.prepare("insert or ignore into " + p + ".owners (store, owner) values (?, ?)");
  const getOwner = db.prepare("select oid from " + p + ".owners where store = ? and owner = ?").pluck();
  const cols = ' (oid, id, "when", "with", withh, value, free) ';
  const addFree = db.prepare("insert or ignore into " + p + ".items" + cols + "values (?, ?, ?, ?, ?, ?, 1)");
  const inItems = db.prepare("select 1 from " + p + '.items where oid = ? and "when" = ? and id = ?').pluck();
  const inChunks = db.prepare("select head from " + p + ".chunks where oid = ? and lo <= ? and hi >= ? and hi < ? + " + CHUNK_SPAN_MS).pluck();
  const addChunk = db.prepare("insert into " + p + ".chunks (oid, lo, hi, n, seq0, head, body) values (?, ?, ?, ?, ?, ?, ?)");
  const getSeq = db.prepare("select seq from " + p + ".sqlite_sequence where name = 'items'").pluck();
  const setSeq = db.prepare("update " + p + ".sqlite_sequence set seq = ? where name = 'items'");
  const newSeq = db.prepare("insert into " + p + ".sqlite_sequence (name, seq) values ('items', ?)");
  const there = (oid, when, id) => inItems.get(oid, when, id) !== undefined || inChunks.all(oid, when, when, when).some((h) => chunkHas(h, id));
  let checked = false;
  function insert(rows) {
    // (maps of maps rather than keys made by joining strings: no string is built per row)
    const oids = new Map(); // store -> owner -> oid
    const open = new Map(); // oid -> hour -> its chunk being filled
    const chunks = []; // in the order they were begun
    let n = 0;
    let taken = 0;
    for (const r of rows) {
      let owners = oids.get(r[0]);
      if (owners === undefined) oids.set(r[0], (owners = new Map()));
      let oid = owners.get(r[1]);
      if (oid === undefined) {
        addOwner.run(r[0], r[1]);
        oid = getOwner.get(r[0], r[1]);
        owners.set(r[1], oid);
      }
      if (idTime(r[2]) !== r[3]) n += addFree.run(oid, r[2], r[3], r[4], hash53(r[4]), r[5]).changes;
      else if (!checked || !there(oid, r[3], r[2])) {
        const hour = Math.floor(r[3] / CHUNK_SPAN_MS);
        let hours = open.get(oid);
        if (hours === undefined) open.set(oid, (hours = new Map()));
        let c = hours.get(hour);
        if (c === undefined || c.body.length >= CHUNK_ITEMS) {
          hours.set(hour, (c = { oid, lo: r[3], hi: r[3], head: [], body: [] }));
          chunks.push(c);
        }
        if (r[3] < c.lo) c.lo = r[3];
        if (r[3] > c.hi) c.hi = r[3];
        c.head.push(r[2], r[3], r[4], r[5].length);
        c.body.push(r[5]);
        taken++;
      }
    }
    if (taken > 0) {
      // seqs from the counter of items' AUTOINCREMENT, which then goes on after them
      const last = getSeq.get();
      let seq = last === undefined ? 0 : last;
      if (last === undefined) newSeq.run(seq + taken);
      else setSeq.run(seq + taken);
      for (const c of chunks) {
        addChunk.run(c.oid, c.lo, c.hi, c.body.length, seq + 1, JSON.stringify(c.head), c.body.join(""));
        seq += c.body.length;
      }
    }
    return n + taken;
  }
  insert.checked = (on) => { checked = on; };
  return insert;
}

// Moves segments into the archive: reads what has been written past 'offset', inserts whole
// lines, and deletes a segment once it is closed ('close(n)': no more is written to it) and read
// to its end.
// 'report' gets { seg, offset } after each transaction and { done: n } after each deletion.
function segmentMover(fs, db, segPath, start, chunk, report, warn) {
  const insert = inserter(db, "arc");
  const tx = db.transaction((rows) => insert(rows));
  let seg = start.seg, offset = start.offset, fd = -1;
  const closed = new Set(start.closed);
  let buf = Buffer.alloc(4 * 1024 * 1024);
  // A record is "#", a JSON array [length, store, owner, id, when, with, ...] (the value's
  // length in UTF-16 units, then five fields per row: the rows that share the value, usually the
  // sender's and the recipient's copy of one message), a newline, the value's text as it is and a
  // newline: the value is written once, neither escaped by the event loop nor parsed here.
  // Segments of earlier versions hold lines of a JSON array [store, owner, id, when, with], a tab
  // and the value (whose text then held no raw newline).
  // Reads the whole records in buf[0, n) into rows; returns the bytes they took.
  function parse(buf, n, rows) {
    const text = buf.toString("utf8", 0, n);
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf("\\n", pos);
      if (nl < 0) break; // a header not yet whole
      if (text.charCodeAt(pos) === 0x23) {
        let r;
        try { r = JSON.parse(text.slice(pos + 1, nl)); } catch { r = undefined; }
        if (!Array.isArray(r) || r.length < 6 || (r.length - 1) % 5 !== 0 || !Number.isSafeInteger(r[0]) || r[0] < 0) {
          warn("archive log: an unreadable record was skipped");
          pos = nl + 1;
          continue;
        }
        const end = nl + 1 + r[0];
        // A value cut short, perhaps inside a character: its end is not in the text yet
        if (end >= text.length) break;
        if (text.charCodeAt(end) !== 10) {
          warn("archive log: a record of the wrong length was skipped");
          pos = nl + 1;
          continue;
        }
        const value = text.slice(nl + 1, end);
        for (let k = 1; k < r.length; k += 5) rows.push([r[k], r[k + 1], r[k + 2], r[k + 3], r[k + 4], value]);
        pos = end + 1;
        continue;
      }
      const line = text.slice(pos, nl);
      pos = nl + 1;
      if (line === "") continue;
      const tab = line.indexOf("\\t");
      try {
        const r = tab < 0 ? undefined : JSON.parse(line.slice(0, tab));
        if (Array.isArray(r) && r.length === 5) { r.push(line.slice(tab + 1)); rows.push(r); }
        else warn("archive log: a malformed line was skipped");
      } catch {
        warn("archive log: an unreadable line was skipped");
      }
    }
    return pos === text.length ? n : Buffer.byteLength(text.slice(0, pos));
  }
  function finish() {
    if (fd >= 0) { fs.closeSync(fd); fd = -1; }
    fs.rmSync(segPath(seg), { force: true });
    closed.delete(seg);
    report({ done: seg });
    seg++;
    offset = 0;
    return true;
  }
  function step() {
    if (fd < 0) {
      try { fd = fs.openSync(segPath(seg), "r"); }
      catch (err) {
        if (err && err.code === "ENOENT") return closed.has(seg) ? finish() : false; // gone, or not begun yet
        throw err;
      }
    }
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    if (n > 0) {
      const rows = [];
      const used = parse(buf, n, rows);
      if (used > 0) {
        // Segments this mover did not see begun may hold rows moved already (before a crash)
        insert.checked(seg <= start.checkedUpTo);
        for (let i = 0; i < rows.length; i += chunk) tx(rows.slice(i, i + chunk));
        offset += used;
        report({ seg, offset });
        return true;
      }
      if (n === buf.length) { buf = Buffer.alloc(buf.length * 2); return true; } // a record longer than the buffer
    }
    // Nothing whole left to read. A closed segment is finished: a partial last record can only be
    // a write torn by a crash, which was never acknowledged.
    if (closed.has(seg)) {
      if (n > 0) warn("archive log: a torn last record was dropped");
      return finish();
    }
    return false;
  }
  return {
    close(n) { closed.add(n); },
    waiting() {
      if (closed.size > 0) return Infinity;
      if (fd < 0) {
        try { fd = fs.openSync(segPath(seg), "r"); }
        catch (err) { if (err && err.code === "ENOENT") return 0; throw err; }
      }
      return fs.fstatSync(fd).size - offset;
    },
    run() { while (step()); },
    release() { if (fd >= 0) { fs.closeSync(fd); fd = -1; } },
  };
}

// Opens the archive database for writing (worker, or the main thread when the worker is gone),
// attached as "arc" like on the main connection, so statements compiled there run here unchanged.
function openArchiveDb(Database, path) {
  const db = new Database(":memory:");
  // PRIVACY: deleted rows, and cells moved by page balancing, leave no copy in free space
  // (an attached database takes the setting of "main" at ATTACH)
  db.pragma("secure_delete = ON");
  db.pragma("busy_timeout = 5000");
  db.prepare("attach database ? as arc").run(path);
  db.pragma("arc.journal_mode = WAL");
  db.pragma("arc.synchronous = NORMAL");
  db.pragma("arc.cache_size = -16384");
  db.function("warbler_hash53", { deterministic: true }, (s) => hash53(String(s)));
  db.function("warbler_chunk_has", { deterministic: true }, (head, id) => (chunkHas(String(head), String(id)) ? 1 : 0));
  return db;
}

// Deletes the items of chunks (schema 'p') that match every given filter: of one owner or of
// every owner of a store; "with" a peer; "end" (inclusive) or "before" (exclusive) a time; "ids".
// Chunks wholly matched go in SQL, unread; a chunk partly matched is read (head first, then its
// body if it holds a match) and written anew without them, or deleted when none is left (the
// connection's secure_delete clears the old pages). Returns how many items went. Call inside a
// transaction.
function chunkDeleter(db, p) {
  const upd = db.prepare("update " + p + ".chunks set lo = ?, hi = ?, n = ?, head = ?, body = ? where cid = ?");
  const del = db.prepare("delete from " + p + ".chunks where cid = ?");
  const headOf = db.prepare("select head from " + p + ".chunks where cid = ?").pluck();
  const bodyOf = db.prepare("select body from " + p + ".chunks where cid = ?").pluck();
  return (sel) => {
    const owners = sel.owner !== undefined
      ? ["oid = (select oid from " + p + ".owners where store = ? and owner = ?)", [sel.store, sel.owner]]
      : ["oid in (select oid from " + p + ".owners where store = ?)", [sel.store]];
    const select = (cond, params) =>
      db.prepare("select cid from " + p + ".chunks where " + owners[0] + " and " + cond).pluck().all(...owners[1], ...params);
    // the last time to delete, if any: "end" inclusive, "before" exclusive
    const upTo = sel.end !== undefined ? sel.end : sel.before !== undefined ? sel.before - 1 : undefined;
    let count = 0;
    const wholly = (cond, params) => {
      count += db.prepare("select coalesce(sum(n), 0) from " + p + ".chunks where " + owners[0] + " and " + cond).pluck().get(...owners[1], ...params);
      db.prepare("delete from " + p + ".chunks where " + owners[0] + " and " + cond).run(...owners[1], ...params);
    };
    let cids;
    if (sel.ids !== undefined) {
      // chunks hold generated ids only: each one names its time, a point in few chunks
      const set = new Set();
      for (const t of new Set(sel.ids.map(idTime))) {
        if (t < 0 || (upTo !== undefined && t > upTo)) continue;
        for (const cid of select("hi >= ? and hi < ? and lo <= ?", [t, t + CHUNK_SPAN_MS, t])) set.add(cid);
      }
      cids = [...set];
    } else if (sel.with === undefined) {
      // every chunk wholly up to the bound (or all of them) goes unread; those across it are read
      if (upTo === undefined) {
        wholly("1", []);
        return count;
      }
      wholly("hi <= ?", [upTo]);
      cids = select("hi > ? and hi < ? and lo <= ?", [upTo, upTo + CHUNK_SPAN_MS, upTo]);
    } else {
      cids = upTo === undefined ? select("1", []) : select("hi < ? and lo <= ?", [upTo + CHUNK_SPAN_MS, upTo]);
    }
    const ids = sel.ids === undefined ? undefined : new Set(sel.ids);
    for (const cid of cids) {
      const h = JSON.parse(headOf.get(cid));
      const gone = (i) => (sel.with === undefined || h[i + 2] === sel.with) && (upTo === undefined || h[i + 1] <= upTo) && (ids === undefined || ids.has(h[i]));
      let any = false;
      for (let i = 0; i < h.length && !any; i += 4) any = gone(i);
      if (!any) continue;
      const all = bodyOf.get(cid);
      const head = [];
      const body = [];
      let lo = Infinity, hi = -Infinity, off = 0;
      for (let i = 0; i < h.length; i += 4) {
        const len = h[i + 3];
        const value = all.slice(off, off + len);
        off += len;
        if (gone(i)) continue;
        head.push(h[i], h[i + 1], h[i + 2], len);
        body.push(value);
        if (h[i + 1] < lo) lo = h[i + 1];
        if (h[i + 1] > hi) hi = h[i + 1];
      }
      count += h.length / 4 - body.length;
      if (body.length === 0) del.run(cid);
      else upd.run(lo, hi, body.length, JSON.stringify(head), body.join(""), cid);
    }
    return count;
  };
}

// Runs writes sent by the main thread (one transaction) after moving every row appended before
// them: statements ({ sql, params }) and chunk deletions ({ chunks: selection }, chunkDeleter);
// returns the rows (items) each changed.
function executor(db, mover) {
  const cache = new Map();
  const stmt = (sql) => { let st = cache.get(sql); if (!st) { st = db.prepare(sql); if (cache.size < 64) cache.set(sql, st); } return st; };
  const delChunks = chunkDeleter(db, "arc");
  const tx = db.transaction((ops) => ops.map((o) => (o.chunks !== undefined ? delChunks(o.chunks) : stmt(o.sql).run(...o.params).changes)));
  return (ops) => { mover.run(); return tx(ops); };
}
`;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const Database = require(workerData.driver);
${SHARED_SOURCE}
// Moving rows can wait; the event loop's work (and so every message's latency) cannot. On Linux
// this lowers this thread only (setpriority applies to the calling thread).
try { require("node:os").setPriority(0, workerData.nice); } catch {}
const db = openArchiveDb(Database, workerData.archivePath);
const segPath = (n) => workerData.segmentPrefix + n;
const mover = segmentMover(fs, db, segPath, workerData.start, workerData.chunk,
  (m) => parentPort.postMessage(m), (w) => parentPort.postMessage({ warn: w }));
let failed = false;
let last = Date.now();
function run() {
  if (failed) return;
  last = Date.now();
  try { mover.run(); db.pragma("arc.wal_checkpoint(PASSIVE)"); }
  catch (err) { failed = true; mover.release(); parentPort.postMessage({ error: String(err && err.message || err) }); }
}
function tick() {
  if (failed) return;
  try {
    const waiting = mover.waiting();
    if (waiting >= workerData.batchBytes || (waiting > 0 && Date.now() - last >= workerData.maxDelayMs)) run();
  } catch (err) { failed = true; mover.release(); parentPort.postMessage({ error: String(err && err.message || err) }); }
}
const timer = setInterval(tick, workerData.intervalMs);
const exec = executor(db, mover);
parentPort.on("message", (m) => {
  if (m && m.close !== undefined) mover.close(m.close);
  else if (m && m.exec !== undefined) {
    // A failed write fails only its caller; a failure to move rows stops the worker as in run()
    let changes;
    try { mover.run(); } catch (err) { failed = true; mover.release(); parentPort.postMessage({ error: String(err && err.message || err) }); return; }
    try { changes = exec(m.ops); }
    catch (err) { parentPort.postMessage({ execDone: m.exec, error: String(err && err.message || err), code: err && err.code }); return; }
    parentPort.postMessage({ execDone: m.exec, changes });
  }
  else if (m === "compact") run();
  else if (m === "stop") { clearInterval(timer); run(); mover.release(); db.close(); parentPort.postMessage("stopped"); }
});
`;

type Mover = {
  close(n: number): void;
  waiting(): number;
  run(): void;
  release(): void;
};
const shared = new Function(`${SHARED_SOURCE}; return { hash53, idTime, chunkHas, CHUNK_SPAN_MS, createArchiveSchema, inserter, segmentMover, openArchiveDb, executor };`)() as {
  hash53(s: string): number;
  createArchiveSchema(db: Database.Database, schema: string): void;
  inserter(db: Database.Database, schema: string): ((rows: unknown[][]) => number) & { checked(on: boolean): void };
  idTime(id: string): number;
  chunkHas(head: string, id: string): boolean;
  CHUNK_SPAN_MS: number;
  segmentMover(
    fs: unknown,
    db: Database.Database,
    segPath: (n: number) => string,
    start: { seg: number; offset: number; closed: number[]; checkedUpTo: number },
    chunk: number,
    report: (m: { seg: number; offset: number } | { done: number }) => void,
    warn: (w: string) => void,
  ): Mover;
  openArchiveDb(driver: typeof Database, path: string): Database.Database;
  executor(db: Database.Database, mover: Mover): (ops: ArchiveWrite[]) => number[];
};

/**
 * Items of chunks to delete: of one owner, or of every owner of the store; only those matching
 * every filter given (`end` inclusive, `before` exclusive).
 */
export interface ChunkSelection {
  store: string;
  owner?: string | undefined;
  with?: string | undefined;
  end?: number | undefined;
  before?: number | undefined;
  ids?: string[] | undefined;
}

/**
 * A write to the archive: a statement compiled on the main connection (where the archive is
 * "arc"), or a deletion from the chunks, which is work for JavaScript, not SQL.
 */
export type ArchiveWrite = { sql: string; params: readonly unknown[] } | { chunks: ChunkSelection };

/** The key of the archive's "with" index for a peer address. */
export const hash53 = shared.hash53;
/** A chunk's items lie within less than this many milliseconds (hi - lo < it): lookups bound `hi` by it. */
export const CHUNK_SPAN_MS = shared.CHUNK_SPAN_MS;
/** The archiving time a generated archive id begins with; -1 for any other id. */
export const archiveIdTime = shared.idTime;
/** Creates the archive tables (if missing) in an attached schema. */
export const createArchiveSchema = shared.createArchiveSchema;
/** Inserts [store, owner, id, when, with, value] rows into the archive of a schema (inside a transaction). */
export const archiveInserter = shared.inserter;
/**
 * Runs archive writes ({@link ArchiveWrite}) in one transaction on a connection where the archive
 * is attached as "arc", as the worker does (for an archive without append log: in memory).
 */
export const archiveExecutor = (db: Database.Database): ((ops: ArchiveWrite[]) => number[]) =>
  shared.executor(db, { close() {}, waiting: () => 0, run() {}, release() {} });
/** Opens an archive file as the worker does (attached as "arc", with the worker's settings). */
export const openArchiveDatabase = (path: string): Database.Database => shared.openArchiveDb(Database, path);
/**
 * Registers the SQL functions the archive's statements use: `warbler_hash53` (copying rows in
 * SQL) and `warbler_chunk_has(head, id)` (whether a chunk holds an id).
 */
export function registerHash(db: Database.Database): void {
  db.function("warbler_hash53", { deterministic: true }, (s: unknown) => hash53(String(s)));
  db.function("warbler_chunk_has", { deterministic: true }, (head: unknown, id: unknown) => (shared.chunkHas(String(head), String(id)) ? 1 : 0));
}

/** The append log of one database: appends on the main thread, moving in a worker. */
export interface ArchiveLog {
  /**
   * Encodes a row into the batch being built (no write yet): a row is bytes outside the
   * JavaScript heap from the moment it is added, not an object kept to the end of the turn.
   */
  add(row: LogRow): void;
  /** Writes the rows added since the last commit (one write call; durable against a process crash on return). */
  commit(): void;
  /** Resolves once every row appended before the call is in the archive. */
  settle(): Promise<void>;
  /**
   * Runs writes to the archive in one transaction, after every row appended before the call has
   * moved, in the worker: the archive file has one writer, so the event loop never waits for its
   * lock. Resolves with the rows each write changed; a failure rejects with SQLite's error code.
   * With `drain`, also no segment holding rows appended before the call is left on disk when it
   * resolves (deletions: no copy stays behind in a log file).
   */
  write(ops: ArchiveWrite[], opts?: { drain?: boolean }): Promise<number[]>;
  /** Moves the remaining rows, stops the worker, removes the last segment. */
  close(): Promise<void>;
}

/** Characters a JSON string cannot hold as they are (and lone surrogates, which UTF-8 cannot). */
const JSON_UNSAFE = /["\\\u0000-\u001f\ud800-\udfff]/;

interface Position {
  seg: number;
  offset: number;
}
const atOrPast = (a: Position, b: Position) => a.seg > b.seg || (a.seg === b.seg && a.offset >= b.offset);

/**
 * Takes the append log's lock: an exclusive SQLite lock on a file of its own, held for the life
 * of the connection. The operating system drops it when the process ends, however it ends, so a
 * crash leaves no stale lock. Undefined when another process (a running server, while the CLI
 * adds a user) holds it.
 */
function lockLog(dbPath: string): Database.Database | undefined {
  const path = lockPathFor(dbPath);
  closeSync(openSync(path, "a", 0o600));
  const lock = new Database(path);
  try {
    lock.pragma("busy_timeout = 0");
    lock.exec("begin exclusive");
    return lock;
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY") return undefined;
    throw err;
  }
}

/**
 * Starts the append log of `dbPath`: segments left by an earlier process are moved first (their
 * rows may be in the archive already: each is looked up by owner, time and id and skipped if
 * there). The archive
 * database must exist with its schema. `onError` reports worker failures (moving then continues
 * on the main thread); `onWarn` lines of a segment that could not be read. Only one process owns
 * the log: undefined when another one does (its caller then writes to the archive directly).
 */
export function openArchiveLog(
  dbPath: string,
  onError: (message: string) => void,
  onWarn: (message: string) => void = onError,
): ArchiveLog | undefined {
  const lock = lockLog(dbPath);
  if (!lock) return undefined;
  try {
    return startLog(dbPath, lock, onError, onWarn);
  } catch (err) {
    lock.close();
    throw err;
  }
}

function startLog(dbPath: string, lock: Database.Database, onError: (message: string) => void, onWarn: (message: string) => void): ArchiveLog {
  const archivePath = archivePathFor(dbPath);
  const old = segmentsOf(dbPath);
  let current = old.length > 0 ? old[old.length - 1]! + 1 : 1;
  const start = { seg: old[0] ?? current, offset: 0, closed: old, checkedUpTo: old[old.length - 1] ?? 0 };
  // PRIVACY: the segments hold messages, like the database (created 0600)
  let fd = openSync(segmentPathFor(dbPath, current), "a", 0o600);
  let written = 0;
  /** Every row up to here is in the archive. */
  let moved: Position = { seg: start.seg, offset: 0 };
  /** Segments written and not yet deleted. */
  const live = new Set<number>([...old, current]);
  /** Segments no longer written to (the mover deletes each once read to its end). */
  const closedSegs = new Set<number>(old);

  type Waiter = { test: () => boolean; resolve: () => void; reject: (e: Error) => void };
  let waiters: Waiter[] = [];
  const release = () => {
    const still: Waiter[] = [];
    for (const w of waiters) (w.test() ? w.resolve : () => still.push(w))();
    waiters = still;
    // An unreferenced worker would let the process exit while someone waits for it
    if (waiters.length === 0 && writes.size === 0) worker?.unref();
  };

  let fallback: { db: Database.Database; mover: Mover; exec: (ops: ArchiveWrite[]) => number[] } | undefined;
  /** Writes sent to the worker and not answered yet, by number. */
  const writes = new Map<number, { ops: ArchiveWrite[]; resolve: (c: number[]) => void; reject: (e: Error) => void }>();
  let nextWrite = 1;
  const report = (m: { seg: number; offset: number } | { done: number }) => {
    if ("done" in m) {
      live.delete(m.done);
      closedSegs.delete(m.done);
      if (moved.seg <= m.done) moved = { seg: m.done + 1, offset: 0 };
    } else if (atOrPast(m, moved)) moved = { seg: m.seg, offset: m.offset };
  };
  /** Moving on the main thread, when the worker is gone. */
  const moveHere = () => {
    if (!fallback) {
      const db = shared.openArchiveDb(Database, archivePath);
      const mover = shared.segmentMover(
        fs,
        db,
        (n) => segmentPathFor(dbPath, n),
        // the worker may have moved more than it reported: every segment so far is checked
        { seg: moved.seg, offset: moved.offset, closed: [...closedSegs], checkedUpTo: current },
        COMPACT_CHUNK,
        report,
        onWarn,
      );
      fallback = { db, mover, exec: shared.executor(db, mover) };
    }
    fallback.mover.run();
    release();
    return fallback;
  };
  /** Runs writes on the main thread, when the worker is gone. */
  const writeHere = (ops: ArchiveWrite[]): number[] => moveHere().exec(ops);

  let worker: Worker | undefined = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      archivePath,
      segmentPrefix: segmentPathFor(dbPath, 0).slice(0, -1),
      start,
      chunk: COMPACT_CHUNK,
      intervalMs: COMPACT_INTERVAL_MS,
      batchBytes: BATCH_BYTES,
      nice: WORKER_NICE,
      maxDelayMs: MAX_DELAY_MS,
      driver: require.resolve("better-sqlite3"),
    },
  });
  const workerFailed = (message: string) => {
    onError(message);
    const w = worker;
    worker = undefined;
    void w?.terminate();
    try {
      moveHere();
    } catch (err) {
      for (const w of waiters) w.reject(err as Error);
      waiters = [];
    }
    // Writes the worker did not answer never committed there (the answer follows the commit)
    const left = [...writes.values()];
    writes.clear();
    for (const w of left) {
      try {
        w.resolve(writeHere(w.ops));
      } catch (err) {
        w.reject(err as Error);
      }
    }
  };
  worker.on("message", (m: unknown) => {
    if (!m || typeof m !== "object") return;
    if ("execDone" in m) {
      const r = m as { execDone: number; changes?: number[]; error?: string; code?: string };
      const w = writes.get(r.execDone);
      writes.delete(r.execDone);
      if (r.error === undefined) w?.resolve(r.changes ?? []);
      else w?.reject(Object.assign(new Error(r.error), { code: r.code }));
      release();
    } else if ("error" in m) workerFailed(String((m as { error: unknown }).error));
    else if ("warn" in m) onWarn(String((m as { warn: unknown }).warn));
    else {
      report(m as { seg: number; offset: number } | { done: number });
      release();
    }
  });
  worker.on("error", (err) => workerFailed(err.message));
  worker.unref();

  /** The records of a batch, as bytes; kept from batch to batch while at most OUT_BYTES_KEPT. */
  let out: Buffer = Buffer.allocUnsafe(OUT_BYTES);
  /** A larger buffer holding buf's first `used` bytes (buf is zeroed); kept as `out` if not too large. */
  const grow = (buf: Buffer, used: number, need: number): Buffer => {
    const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
    buf.copy(bigger, 0, 0, used);
    buf.fill(0, 0, used);
    if (bigger.length <= OUT_BYTES_KEPT) out = bigger;
    return bigger;
  };

  // The batch being built (see segmentMover for the records): rows in a row with the same value
  // (one message's two copies) share one record, kept open until a row with another value comes
  // or the batch is committed: its header goes into the buffer as its rows come, field by field
  // (no string is built), and the value follows when the record closes, as it is, after its
  // length and (a string stored as itself) the prefix.
  let batch: Buffer = out;
  let off = 0;
  let openValue: string | undefined;
  let openPlain = false;
  /** Room for `n` more bytes. */
  const room = (n: number) => {
    if (off + n > batch.length) batch = grow(batch, off, off + n);
  };
  /** A string as JSON text (room made by the caller: 6 bytes per UTF-16 unit, for \u escapes, and 2). */
  const putString = (v: string) => {
    // Short printable ASCII (addresses, ids, store names: nearly every field) byte by byte: a
    // native write per field costs more than the loop
    const n = v.length;
    if (n <= 64) {
      let i = 0;
      const start = off + 1;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) break;
        batch[start + i] = c;
      }
      if (i === n) {
        batch[off] = 0x22;
        batch[start + n] = 0x22;
        off = start + n + 1;
        return;
      }
    }
    if (JSON_UNSAFE.test(v)) {
      off += batch.write(JSON.stringify(v), off);
      return;
    }
    batch[off++] = 0x22;
    off += batch.write(v, off);
    batch[off++] = 0x22;
  };
  /** The decimal digits of 0 <= v < 1e9, `digits` of them (leading zeros if more than needed). */
  const putDigits = (v: number, digits: number) => {
    for (let i = off + digits - 1; i >= off; i--) {
      const q = (v / 10) | 0;
      batch[i] = 0x30 + v - q * 10;
      v = q;
    }
    off += digits;
  };
  const digitsOf = (v: number) => {
    let digits = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
    return digits;
  };
  /**
   * A number as JSON text, an integer without a string (room made by the caller: 24 bytes). A
   * time (about 1.7e12) is written as two parts below 1e9, whose arithmetic stays in small integers.
   */
  const putInteger = (v: number) => {
    if (!Number.isSafeInteger(v)) {
      off += batch.write(JSON.stringify(v), off); // times are integers (checkTime); never NaN in JSON
      return;
    }
    if (v < 0) {
      batch[off++] = 0x2d;
      v = -v;
    }
    if (v < 1e9) {
      putDigits(v, digitsOf(v));
      return;
    }
    const high = Math.floor(v / 1e9);
    putDigits(high, digitsOf(high));
    putDigits(v - high * 1e9, 9);
  };
  /** ",store,owner,id,when,with" of one row. */
  const putFields = (r: LogRow) => {
    // JSON.stringify writes at most 6 bytes per UTF-16 unit (\u escapes), UTF-8 at most 3
    room(6 * (r.store.length + r.owner.length + r.id.length + r.with.length) + 8 + 24 + 5);
    batch[off++] = 0x2c;
    putString(r.store);
    batch[off++] = 0x2c;
    putString(r.owner);
    batch[off++] = 0x2c;
    putString(r.id);
    batch[off++] = 0x2c;
    putInteger(r.when);
    batch[off++] = 0x2c;
    putString(r.with);
  };
  const closeRecord = () => {
    const value = openValue;
    if (value === undefined) return;
    // "]", newline, the prefix, the value (UTF-8: at most 3 bytes per UTF-16 unit) and a newline
    room(2 + PLAIN_PREFIX.length + 3 * value.length + 1);
    batch[off++] = 0x5d;
    batch[off++] = 0x0a;
    if (openPlain) for (let i = 0; i < PLAIN_PREFIX.length; i++) batch[off++] = PLAIN_PREFIX.charCodeAt(i); // ASCII
    off += batch.write(value, off);
    batch[off++] = 0x0a;
    // PRIVACY: the message is released at once, not kept to the end of the batch
    openValue = undefined;
  };

  /** Writes the batch built so far (see ArchiveLog.commit). */
  const commit = (): void => {
    closeRecord();
    if (off === 0) return;
    const buf = batch;
    const end = off;
    try {
      // A regular file takes the whole write; should it not, the rest follows (the worker only
      // ever reads whole records)
      for (let done = 0; done < end; ) done += writeSync(fd, buf, done, end - done);
    } finally {
      // PRIVACY: the buffer keeps no copy of what it carried; a failed batch is dropped (its
      // rows are reported failed, never written later)
      buf.fill(0, 0, end);
      batch = out;
      off = 0;
    }
    written += end;
    if (written >= SEGMENT_BYTES) rotate();
  };

  /** Closes the current segment and begins the next. */
  const rotate = () => {
    closeSync(fd);
    closedSegs.add(current);
    worker?.postMessage({ close: current });
    fallback?.mover.close(current);
    current++;
    written = 0;
    live.add(current);
    fd = openSync(segmentPathFor(dbPath, current), "a", 0o600);
  };

  const wait = (test: () => boolean): Promise<void> => {
    if (test()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      waiters.push({ test, resolve, reject });
      if (worker) {
        worker.ref();
        worker.postMessage("compact");
      } else {
        try {
          moveHere();
        } catch (err) {
          reject(err as Error);
        }
      }
    });
  };

  let closed: Promise<void> | undefined;
  return {
    write(ops, opts) {
      // After every row added before the call (the caller commits first; this keeps the order if not)
      try {
        commit();
      } catch (err) {
        return Promise.reject(err as Error);
      }
      // The worker moves (and deletes) the closed segments before it runs the writes
      if (opts?.drain && written > 0) rotate();
      if (!worker) {
        try {
          return Promise.resolve(writeHere(ops));
        } catch (err) {
          return Promise.reject(err as Error);
        }
      }
      const n = nextWrite++;
      const w = worker;
      return new Promise<number[]>((resolve, reject) => {
        writes.set(n, { ops, resolve, reject });
        w.ref();
        w.postMessage({ exec: n, ops });
      });
    },
    add(r) {
      const plain = r.plain === true;
      // The next row of the record being built (one message's second copy) joins its header
      if (openValue === undefined || r.value !== openValue || plain !== openPlain) {
        closeRecord();
        room(2 + 24);
        batch[off++] = 0x23;
        batch[off++] = 0x5b;
        putInteger(plain ? PLAIN_PREFIX.length + r.value.length : r.value.length);
        openValue = r.value;
        openPlain = plain;
      }
      putFields(r);
    },
    commit,
    settle() {
      try {
        commit();
      } catch (err) {
        return Promise.reject(err as Error);
      }
      const target = { seg: current, offset: written };
      return wait(() => atOrPast(moved, target));
    },
    close() {
      closed ??= (async () => {
        commit();
        closeSync(fd);
        closedSegs.add(current);
        const w = worker;
        worker = undefined;
        if (w) {
          w.ref();
          w.postMessage({ close: current });
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate().then(() => resolve()), 10_000);
            w.on("message", (m) => {
              if (m === "stopped") {
                clearTimeout(t);
                void w.terminate().then(() => resolve());
              }
            });
            w.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            w.postMessage("stop");
          });
        }
        // Whatever the worker could not move is moved here, so a closed archive is complete.
        if (live.size > 0) {
          fallback?.mover.close(current);
          moveHere();
        }
        fallback?.mover.release();
        fallback?.db.pragma("arc.wal_checkpoint(TRUNCATE)");
        fallback?.db.close();
        lock.close();
      })();
      return closed;
    },
  };
}
