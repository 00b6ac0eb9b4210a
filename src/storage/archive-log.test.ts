// The archive append log: what a crash leaves behind is moved exactly once, closing leaves the
// log empty, and readers always see every append (src/storage/archive-log.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createSqliteBackend } from "./sqlite.js";
import { logPathFor } from "./archive-log.js";

const dir = mkdtempSync(join(tmpdir(), "warbler-alog-"));
let n = 0;
const path = () => join(dir, `db-${++n}.sqlite`);

describe("archive log", () => {
  it("moves rows a crash left in the log exactly once, also those already moved", async () => {
    const p = path();
    const first = await createSqliteBackend({ path: p });
    await first.archive("archive").append("juliet@example.com", { id: "a1", when: 1000, with: "romeo@example.com", value: { n: 1 } });
    await first.close();
    // What a process killed between the worker's two commits leaves: a1 in both places, a2 and a3 only in the log.
    const log = new Database(logPathFor(p));
    const ins = log.prepare('insert into log (store, owner, id, "when", "with", value) values (?, ?, ?, ?, ?, ?)');
    for (const [id, when] of [["a1", 1000], ["a2", 2000], ["a3", 3000]] as const) ins.run("archive", "juliet@example.com", id, when, "romeo@example.com", JSON.stringify({ n: when }));
    log.close();
    const second = await createSqliteBackend({ path: p });
    const r = await second.archive("archive").query("juliet@example.com");
    assert.deepEqual(r.items.map((i) => i.id), ["a1", "a2", "a3"]);
    assert.equal(r.count, 3);
    await second.close();
  });

  it("sees every append at once and leaves the log empty when closed", async () => {
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
    const raw = new Database(logPathFor(p));
    assert.equal((raw.prepare("select count(*) as c from log").get() as { c: number }).c, 0);
    raw.close();
    const main = new Database(p);
    assert.equal((main.prepare("select count(*) as c from archive").get() as { c: number }).c, 12_001);
    main.close();
  });

  it("keeps a given id's conflict check and arrival order", async () => {
    const st = await createSqliteBackend({ path: path() });
    const ar = st.archive("archive");
    const a = ar.append("j@example.com", { when: 5, value: "generated" });
    const b = ar.append("j@example.com", { id: "given", when: 5, value: "given" });
    await Promise.all([a, b]);
    await assert.rejects(ar.append("j@example.com", { id: "given", value: "again" }), /already exists/);
    const r = await ar.query("j@example.com");
    assert.deepEqual(r.items.map((i) => i.value), ["generated", "given"]);
    await st.close();
  });

  it("keeps no row of a purged owner in the log", async () => {
    const p = path();
    const st = await createSqliteBackend({ path: p });
    const ar = st.archive("archive");
    await Promise.all(Array.from({ length: 300 }, (_, i) => ar.append(i % 2 ? "gone@example.com" : "stays@example.com", { with: "x@example.com", value: i })));
    await st.purgeOwner("gone@example.com", ["archive"]);
    const raw = new Database(logPathFor(p), { readonly: true });
    assert.equal((raw.prepare("select count(*) as c from log where owner = 'gone@example.com'").get() as { c: number }).c, 0);
    raw.close();
    assert.equal(await st.countMentions("gone@example.com"), 0);
    assert.equal((await ar.query("stays@example.com", { limit: 0 })).count, 150);
    await st.close();
  });
});
