// What storing one message in the SQLite archive costs the archive's writer, in CPU µs per
// message (each message is two rows: the sender's copy and the recipient's), for the layout the
// server uses and for leaner ones, to show how far a per-message row layout can go at all:
//   current      the server's own schema and insert code (createArchiveSchema, archiveInserter):
//                since schema 3, one chunk row per owner per transaction (head JSON of ids, times
//                and peers, body of the values), indexed by (oid, lo) and (oid, hi)
//   id-index     schema 1 (before 2026-11-25): every id also in a unique (oid, id) index
//   no-id-index  a plain table with the (oid, when, withh) index only: what schema 2 wrote for
//                a message (one row per copy, generated ids found through their time)
//   no-index     no secondary index at all (the floor of one row per copy; unqueryable)
//   shared-body  the message stored once, plus one clustered entry per owner (oid, when, seq)
// 200 owners writing to each other, 10 000 rows per transaction, the archive file opened as the
// server's worker opens it (openArchiveDatabase).
// Run: npx tsx bench/archive-row-bench.ts [messages, default 100000] [rounds, default 3]
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import type Database from "better-sqlite3";
import { archiveInserter, createArchiveSchema, hash53, openArchiveDatabase } from "../src/storage/archive-log.js";
import { newArchiveId } from "../src/storage/shared.js";

const MESSAGES = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const USERS = 200;
const CHUNK = 5_000; // messages per transaction (10 000 rows)

interface Msg {
  a: number;
  b: number;
  when: number;
  xml: string;
  ida: string;
  idb: string;
}
const t0 = Date.now();
const msgs: Msg[] = [];
for (let i = 0; i < MESSAGES; i++) {
  const a = 1 + (i % USERS);
  const b = 1 + ((i * 7 + 3) % USERS);
  const xml = `<message xmlns="jabber:client" to="bench${b}@localhost" type="chat" id="m${i}" from="bench${a}@localhost/bench"><body>${"x".repeat(100)}</body></message>`;
  // ids as the server makes them: the archiving time, then 80 random bits
  msgs.push({ a, b, when: t0 + i, xml, ida: newArchiveId(t0 + i), idb: newArchiveId(t0 + i) });
}

type Layout = (db: Database.Database) => (batch: Msg[]) => void;
const perRow =
  (indexes: string[]): Layout =>
  (db) => {
    db.exec(`create table arc.items (seq integer primary key autoincrement, oid integer not null, id text not null, "when" integer not null, "with" text not null, withh integer not null, value text not null)`);
    for (const i of indexes) db.exec(i);
    const add = db.prepare(`insert into arc.items (oid, id, "when", "with", withh, value) values (?, ?, ?, ?, ?, ?)`);
    return (batch) => {
      for (const m of batch) {
        const pa = `bench${m.b}@localhost`;
        const pb = `bench${m.a}@localhost`;
        add.run(m.a, m.ida, m.when, pa, hash53(pa), JSON.stringify({ dir: "out", xml: m.xml }));
        add.run(m.b, m.idb, m.when, pb, hash53(pb), JSON.stringify({ dir: "in", xml: m.xml }));
      }
    };
  };
const WHEN_INDEX = `create index arc.items_when on items (oid, "when", withh)`;
const layouts: Record<string, Layout> = {
  current: (db) => {
    createArchiveSchema(db, "arc");
    const insert = archiveInserter(db, "arc");
    return (batch) => {
      const rows: unknown[][] = [];
      for (const m of batch) {
        const out = `bench${m.a}@localhost`;
        const peer = `bench${m.b}@localhost`;
        rows.push(["archive", out, m.ida, m.when, peer, JSON.stringify({ dir: "out", xml: m.xml })]);
        rows.push(["archive", peer, m.idb, m.when, out, JSON.stringify({ dir: "in", xml: m.xml })]);
      }
      insert(rows);
    };
  },
  "id-index": perRow([`create unique index arc.items_id on items (oid, id)`, WHEN_INDEX]),
  "no-id-index": perRow([WHEN_INDEX]),
  "no-index": perRow([]),
  "shared-body": (db) => {
    db.exec(`create table arc.bodies (bid integer primary key, refs integer not null, value text not null)`);
    db.exec(`create table arc.entries (oid integer not null, "when" integer not null, seq integer not null, withh integer not null, "with" text not null, dir integer not null, id text not null, bid integer not null, primary key (oid, "when", seq)) without rowid`);
    const body = db.prepare(`insert into arc.bodies (refs, value) values (2, ?)`);
    const entry = db.prepare(`insert into arc.entries (oid, "when", seq, withh, "with", dir, id, bid) values (?, ?, ?, ?, ?, ?, ?, ?)`);
    let seq = 0;
    return (batch) => {
      for (const m of batch) {
        const bid = body.run(m.xml).lastInsertRowid;
        const pa = `bench${m.b}@localhost`;
        const pb = `bench${m.a}@localhost`;
        entry.run(m.a, m.when, ++seq, hash53(pa), pa, 1, m.ida, bid);
        entry.run(m.b, m.when, ++seq, hash53(pb), pb, 0, m.idb, bid);
      }
    };
  },
};

const results: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, layout] of Object.entries(layouts)) {
    const dir = mkdtempSync(join(tmpdir(), "warbler-archive-row-bench-"));
    const db = openArchiveDatabase(join(dir, "archive"));
    const write = layout(db);
    const tx = db.transaction(write);
    const before = process.cpuUsage();
    for (let i = 0; i < msgs.length; i += CHUNK) {
      tx(msgs.slice(i, i + CHUNK));
      db.pragma("arc.wal_checkpoint(PASSIVE)");
    }
    const used = process.cpuUsage(before);
    (results[name] ??= []).push((used.user + used.system) / msgs.length);
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`${MESSAGES} messages (two rows each), ${ROUNDS} rounds; writer CPU µs per message:`);
for (const [name, r] of Object.entries(results)) {
  const sorted = [...r].sort((x, y) => x - y);
  console.log(`  ${name.padEnd(12)} median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}  (${r.map((v) => v.toFixed(1)).join(", ")})`);
}
