// The archive file and its append log: what a crash leaves behind is moved exactly once, an older
// database (archive table in the main file, SQLite append log) is carried over, closing leaves no
// segment, readers always see every append, and a purge leaves no copy in any file
// (src/storage/archive-log.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createSqliteBackend, SQLITE_MIGRATIONS } from "./sqlite.js";
import { newArchiveId } from "./shared.js";
import { archiveIdTime, archivePathFor, legacyLogPathFor, lockPathFor, segmentPathFor, sqliteFilesFor } from "./archive-log.js";

const dir = mkdtempSync(join(tmpdir(), "warbler-alog-"));
let n = 0;
const path = () => join(dir, `db-${++n}.sqlite`);
const line = (owner: string, id: string, when: number, value: unknown) =>
  JSON.stringify(["archive", owner, id, when, "romeo@example.com"]) + "\t" + JSON.stringify(value) + "\n";

describe("archive file and append log", () => {
  it("moves rows a crash left in a segment exactly once, also those already moved, and drops a torn last line", async () => {
    const p = path();
    const first = await createSqliteBackend({ path: p });
    const a1 = await first.archive("archive").append("juliet@example.com", { when: 1000, with: "romeo@example.com", value: { n: 1000 } });
    await first.close();
    assert.deepEqual(sqliteFilesFor(p).filter((f) => f.includes("append")), [], "a clean close leaves no segment");
    // What a process killed before the worker deleted its segment leaves: a1 moved already, a2 and
    // a3 not, and half a line that was being written.
    const j = "juliet@example.com";
    writeFileSync(segmentPathFor(p, 7), line(j, a1, 1000, { n: 1000 }) + line(j, "a2", 2000, { n: 2000 }) + line(j, "a3", 3000, { n: 3000 }) + '["archive","juliet@exa');
    const warnings: string[] = [];
    const second = await createSqliteBackend({ path: p, onCheckpointError: (m) => warnings.push(m) });
    const r = await second.archive("archive").query(j);
    assert.deepEqual(r.items.map((i) => i.id), [a1, "a2", "a3"]);
    assert.deepEqual(r.items.map((i) => (i.value as { n: number }).n), [1000, 2000, 3000]);
    assert.equal(r.count, 3);
    await second.close();
    assert.equal(existsSync(segmentPathFor(p, 7)), false);
    assert.ok(warnings.some((w) => /torn/.test(w)), "the torn line is reported");
  });

  it("moves records whose values hold newlines and are shared by two rows, from a segment that also holds lines of the earlier format, and drops a torn last record", async () => {
    const p = path();
    await (await createSqliteBackend({ path: p })).close();
    const j = "juliet@example.com";
    const r = "romeo@example.com";
    // The current format: a header with the value's length in UTF-16 units and the rows that share
    // it (five fields each), then the value as it is
    const record = (text: string, ...rows: [owner: string, id: string, when: number, peer: string][]) =>
      "#" + JSON.stringify([text.length, ...rows.flatMap(([o, id, when, peer]) => ["archive", o, id, when, peer])]) + "\n" + text + "\n";
    const multiline = '=<message xmlns="jabber:client"><body>two\nlines, é 😀</body></message>';
    const text =
      line(j, "a1", 1000, { n: 1 }) +
      record(multiline, [r, "a2", 2000, j], [j, "a2", 2000, r]) +
      record(JSON.stringify({ n: 3 }), [j, "a3", 3000, r]) +
      record("=cut short", [j, "a4", 4000, r]);
    // the torn record: its header promises more than was written
    writeFileSync(segmentPathFor(p, 3), text.slice(0, -6));
    const warnings: string[] = [];
    const st = await createSqliteBackend({ path: p, onCheckpointError: (m) => warnings.push(m) });
    const mine = await st.archive("archive").query(j);
    assert.deepEqual(mine.items.map((i) => i.id), ["a1", "a2", "a3"]);
    assert.deepEqual(mine.items.map((i) => i.value), [{ n: 1 }, multiline.slice(1), { n: 3 }]);
    const his = await st.archive("archive").query(r);
    assert.deepEqual(his.items.map((i) => [i.id, i.with, i.value]), [["a2", j, multiline.slice(1)]]);
    await st.close();
    assert.equal(existsSync(segmentPathFor(p, 3)), false);
    assert.ok(warnings.some((w) => /torn/.test(w)), "the torn record is reported");
  });

  it("carries over an older database: the archive table of the main file and the SQLite append log", async () => {
    const p = path();
    // A database at schema version 1 (the archive in the main file)...
    const old = await createSqliteBackend({ path: p, migrations: SQLITE_MIGRATIONS.slice(0, 1) });
    await old.close();
    const raw = new Database(p);
    const ins = raw.prepare('insert into archive (store, owner, id, "when", "with", value) values (?, ?, ?, ?, ?, ?)');
    ins.run("archive", "juliet@example.com", "t2", 2000, "romeo@example.com", '"table 2"');
    ins.run("archive", "juliet@example.com", "t1", 1000, "nurse@example.com", '"table 1"');
    ins.run("archive", "romeo@example.com", "t1", 1000, "juliet@example.com", '"romeo 1"');
    raw.close();
    // ...and its append log, holding one row moved already and one not
    const lg = new Database(legacyLogPathFor(p));
    lg.exec(`create table log (jseq integer primary key autoincrement, store text not null, owner text not null, id text not null,
      "when" integer not null, "with" text not null, value text not null)`);
    const lins = lg.prepare('insert into log (store, owner, id, "when", "with", value) values (?, ?, ?, ?, ?, ?)');
    lins.run("archive", "juliet@example.com", "t2", 2000, "romeo@example.com", '"table 2"');
    lins.run("archive", "juliet@example.com", "l3", 2000, "romeo@example.com", '"log 3"');
    lg.close();

    const migrated: number[] = [];
    const st = await createSqliteBackend({ path: p, onMigrate: (v) => migrated.push(v) });
    assert.deepEqual(migrated, [2]);
    const j = await st.archive("archive").query("juliet@example.com");
    assert.deepEqual(j.items.map((i) => i.value), ["table 1", "table 2", "log 3"]); // by time, then arrival
    const w = await st.archive("archive").query("juliet@example.com", { with: "romeo@example.com" });
    assert.deepEqual(w.items.map((i) => i.id), ["t2", "l3"]);
    assert.equal((await st.archive("archive").query("romeo@example.com")).count, 1);
    await st.close();
    assert.equal(existsSync(legacyLogPathFor(p)), false);
    const main = new Database(p, { readonly: true });
    assert.equal(main.prepare("select count(*) as c from sqlite_master where name = 'archive'").pluck().get(), 0);
    main.close();
  });

  it("sees every append at once, and leaves only the two database files (and the empty lock) when closed", async () => {
    const p = path();
    const st = await createSqliteBackend({ path: p });
    const ar = st.archive("archive");
    const ids = await Promise.all(Array.from({ length: 12_000 }, (_, i) => ar.append(`u${i % 50}@example.com`, { with: "x@example.com", value: i })));
    assert.equal(new Set(ids).size, 12_000);
    const r = await ar.query("u7@example.com", { limit: 1000 });
    assert.equal(r.count, 240);
    assert.deepEqual(r.items.map((i) => i.value), Array.from({ length: 240 }, (_, k) => 7 + 50 * k));
    assert.equal(await st.countMentions("u7@example.com"), 240);
    // rows appended after a read are seen by the next one
    await ar.append("u7@example.com", { with: "x@example.com", value: "late" });
    assert.equal((await ar.query("u7@example.com", { limit: 0 })).count, 241);
    await st.close();
    assert.deepEqual(sqliteFilesFor(p).sort(), [p, archivePathFor(p), lockPathFor(p)].sort());
    const arc = new Database(archivePathFor(p), { readonly: true });
    // every message in chunks (a row per owner per move), none in rows of its own
    assert.equal(arc.prepare("select sum(n) from chunks").pluck().get(), 12_001);
    assert.ok((arc.prepare("select count(*) from chunks").pluck().get() as number) < 12_001 / 10);
    assert.equal(arc.prepare("select count(*) from items").pluck().get(), 0);
    arc.close();
  });

  it("moves a line longer than the worker's read buffer", async () => {
    const st = await createSqliteBackend({ path: path() });
    const ar = st.archive("archive");
    const big = "x".repeat(5 * 1024 * 1024);
    await ar.append("j@example.com", { value: "before" });
    await ar.append("j@example.com", { value: big });
    await ar.append("j@example.com", { value: "after" });
    const r = await ar.query("j@example.com");
    assert.deepEqual(r.items.map((i) => (i.value as string).length), [6, big.length, 5]);
    await st.close();
  });

  it("moves a value of multi-byte characters that the read buffer cuts inside a character", async () => {
    const st = await createSqliteBackend({ path: path() });
    const ar = st.archive("archive");
    // 4-byte characters past the 4 MiB buffer; owners of four lengths put the cut at every offset
    const big = "😀".repeat(1_200_000) + "é";
    for (const owner of ["a@x", "ab@x", "abc@x", "abcd@x"]) {
      await ar.append(owner, { value: big });
      await ar.append(owner, { value: "after" });
      const r = await ar.query(owner);
      assert.equal(r.items.length, 2);
      assert.ok(r.items[0]!.value === big, "the value comes back whole");
      assert.equal(r.items[1]!.value, "after");
    }
    await st.close();
  });

  it("writes records whose addresses need escaping or are not ASCII, with times of any sign, beside values of every form", async () => {
    const st = await createSqliteBackend({ path: path() });
    const ar = st.archive("archive");
    // a backslash is allowed in a localpart (RFC 7622 §3.3.1); quotes, controls and non-ASCII
    // cannot come from an address but can from a module's own store
    const owners = ['a\\b@example.com', "jüliet@example.com", 'q"u\u0001ote@x', "ȷ😀@x", "plain@x"];
    // (addresses are well-formed text: SQLite's text columns, which rows with given ids use, could
    // not keep a lone surrogate)
    const peers = ['r\\"o@x', "ромео@x", "", "😀@x"];
    const values: unknown[] = ["<m/>", "<é/>", { n: 1, s: "x\ny" }, 42, "lone \udc00", "", null];
    // (and every way a time's digits split around 1e9, where the log writes them in two parts)
    const times = [0, -1, -1_000_000_000_000, 1, 2 ** 48, 9_007_199_254_740_991, -9_007_199_254_740_991, 999_999_999, 1_000_000_000, 1_000_000_001, 1_765_000_000_005, 10, 9];
    const expected = new Map<string, { when: number; with: string; value: unknown }[]>();
    let k = 0;
    // one turn: the rows go in one batch, values shared by runs of rows and not
    await Promise.all(
      owners.flatMap((owner) =>
        times.map((when) => {
          const item = { when, with: peers[k % peers.length]!, value: values[k++ % values.length] };
          (expected.get(owner) ?? expected.set(owner, []).get(owner)!).push(item);
          return ar.append(owner, item);
        }),
      ),
    );
    for (const owner of owners) {
      const got = (await ar.query(owner, { limit: 100 })).items.map((i) => ({ when: i.when, with: i.with, value: i.value }));
      const want = [...expected.get(owner)!].sort((a, b) => a.when - b.when);
      assert.deepEqual(got, want, owner);
    }
    await st.close();
  });

  it("keeps a given id's conflict check and arrival order", async () => {
    const st = await createSqliteBackend({ path: path() });
    const ar = st.archive("archive");
    const a = ar.append("j@example.com", { when: 5, value: "generated" });
    const b = ar.append("j@example.com", { id: "given", when: 5, value: "given" });
    await Promise.all([a, b]);
    await assert.rejects(ar.append("j@example.com", { id: "given", value: "again" }), /already exists/);
    // a generated id given back (an import of this server's own export) is a conflict too
    await assert.rejects(ar.append("j@example.com", { id: await a, when: 5, value: "again" }), /already exists/);
    const r = await ar.query("j@example.com");
    assert.deepEqual(r.items.map((i) => i.value), ["generated", "given"]);
    await st.close();
  });

  it("reads the archiving time back from a generated id, and none from any other id", () => {
    for (const t of [0, 1000, 1_764_000_000_123, 2 ** 48 - 1]) assert.equal(archiveIdTime(newArchiveId(t)), t);
    for (const id of ["given", "", "a".repeat(21), "!".repeat(22)]) assert.equal(archiveIdTime(id), -1);
  });

  it("carries over an archive file of schema 1 (every id in a unique index)", async () => {
    const p = path();
    const st0 = await createSqliteBackend({ path: p });
    await st0.close();
    // Rebuild the archive file as schema 1 made it, with a generated and a given id
    const arc = new Database(archivePathFor(p));
    arc.exec(`drop table items; create table items (seq integer primary key autoincrement, oid integer not null, id text not null,
      "when" integer not null, "with" text not null, withh integer not null, value text not null);
      create unique index items_id on items (oid, id); create index items_when on items (oid, "when", withh);
      insert or ignore into owners (store, owner) values ('archive', 'j@example.com');
      pragma user_version = 1;`);
    const oid = arc.prepare("select oid from owners where owner = 'j@example.com'").pluck().get();
    const ins = arc.prepare('insert into items (oid, id, "when", "with", withh, value) values (?, ?, ?, ?, 0, ?)');
    const generated = "-----3g" + "A".repeat(15); // a generated-looking id whose time is not its row's
    ins.run(oid, generated, 1000, "r@example.com", '"one"');
    ins.run(oid, "given", 2000, "r@example.com", '"two"');
    arc.close();

    const st = await createSqliteBackend({ path: p });
    const ar = st.archive("archive");
    const fresh = await ar.append("j@example.com", { when: 3000, value: "three" });
    const all = await ar.query("j@example.com");
    assert.deepEqual(all.items.map((i) => i.value), ["one", "two", "three"]);
    for (const [id, v] of [[generated, "one"], ["given", "two"], [fresh, "three"]] as const) {
      assert.deepEqual((await ar.query("j@example.com", { ids: [id] })).items.map((i) => i.value), [v]);
    }
    assert.deepEqual((await ar.query("j@example.com", { after: generated })).items.map((i) => i.value), ["two", "three"]);
    assert.deepEqual((await ar.query("j@example.com", { before: fresh })).items.map((i) => i.value), ["one", "two"]);
    await assert.rejects(ar.append("j@example.com", { id: generated, value: "again" }), /already exists/);
    await assert.rejects(ar.append("j@example.com", { id: "given", value: "again" }), /already exists/);
    assert.equal(await ar.delete("j@example.com", { ids: [generated, fresh] }), 2);
    assert.deepEqual((await ar.query("j@example.com")).items.map((i) => i.value), ["two"]);
    await st.close();
    const check = new Database(archivePathFor(p), { readonly: true });
    assert.equal(check.pragma("user_version", { simple: true }), 3);
    assert.deepEqual(check.prepare("select name from sqlite_master where type = 'index' and tbl_name = 'items' order by name").pluck().all(), ["items_free", "items_when"]);
    check.close();
  });

  it("lets one process own the log: a second opener (the CLI beside a running server) writes to the archive directly", async () => {
    const p = path();
    const server = await createSqliteBackend({ path: p });
    await server.archive("archive").append("j@example.com", { with: "r@example.com", value: "from the server" });
    // In one process SQLite's lock table stands in for a second process: the lock is taken
    const cli = await createSqliteBackend({ path: p });
    await cli.archive("archive").append("j@example.com", { with: "r@example.com", value: "from the cli" });
    assert.deepEqual(
      sqliteFilesFor(p).filter((f) => f.includes("-archive-append.")).length,
      1,
      "only the owner's segment exists; the second opener left it alone",
    );
    assert.deepEqual((await server.archive("archive").query("j@example.com")).items.map((i) => i.value), ["from the server", "from the cli"]);
    await cli.close();
    await server.archive("archive").append("j@example.com", { with: "r@example.com", value: "later" });
    assert.equal((await server.archive("archive").query("j@example.com")).count, 3);
    await server.close();
  });

  it("keeps no copy of items deleted from a chunk in any file, and keeps the chunk's other items", async () => {
    const p = path();
    const st = await createSqliteBackend({ path: p });
    const ar = st.archive("archive");
    const j = "juliet@example.com";
    // appended in one turn: one chunk, the deleted items between the kept ones
    await Promise.all(Array.from({ length: 40 }, (_, i) => ar.append(j, { with: i % 2 ? "gone@example.com" : "kept@example.com", value: `${i % 2 ? "secret" : "public"}-${i}` })));
    assert.equal(await ar.delete(j, { with: "gone@example.com" }), 20);
    assert.equal(await st.countMentions("secret-"), 0);
    assert.equal(await st.countMentions("public-"), 20);
    const left = await ar.query(j);
    assert.deepEqual(left.items.map((i) => i.value), Array.from({ length: 20 }, (_, k) => `public-${2 * k}`));
    // the anchors and filters still find the kept items where they were
    assert.deepEqual((await ar.query(j, { after: left.items[4]!.id, limit: 2 })).items.map((i) => i.value), ["public-10", "public-12"]);
    assert.deepEqual((await ar.query(j, { ids: [left.items[19]!.id] })).items.map((i) => i.value), ["public-38"]);
    await st.close();
    for (const f of sqliteFilesFor(p)) {
      const bytes = readFileSync(f);
      assert.ok(!bytes.includes("secret-") && !bytes.includes("gone@example.com"), `${f} keeps a deleted item`);
    }
    assert.ok(readFileSync(archivePathFor(p)).includes("public-38"));
  });

  it("keeps no copy of a purged owner in any file, the append log included", async () => {
    const p = path();
    const st = await createSqliteBackend({ path: p });
    const ar = st.archive("archive");
    await Promise.all(Array.from({ length: 300 }, (_, i) => ar.append(i % 2 ? "gone@example.com" : "stays@example.com", { with: "x@example.com", value: i })));
    await st.purgeOwner("gone@example.com", ["archive"]);
    // right after the purge, while the server runs: no segment holds the owner
    for (const f of sqliteFilesFor(p).filter((f) => f.includes("-archive-append."))) {
      assert.ok(!readFileSync(f).includes("gone@example.com"), `${f} still names the purged owner`);
    }
    assert.equal(await st.countMentions("gone@example.com"), 0);
    assert.equal((await ar.query("stays@example.com", { limit: 0 })).count, 150);
    await st.close();
    for (const f of sqliteFilesFor(p)) assert.ok(!readFileSync(f).includes("gone@example.com"), `${f} still names the purged owner`);
  });
});
