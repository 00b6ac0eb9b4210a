// The storage contract: every backend must pass this same suite (kv, map, archive shapes,
// owner purge, expiry, privacy counts). Archive paging is checked against XEP-0313 + XEP-0059.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { ArchiveItem, ArchiveQuery, SnapshotRow, StorageBackend } from "../../src/storage/types.js";

/** Builds a fresh, empty backend; the suite passes a clock it controls. */
export type MakeBackend = (opts: { now: () => number }) => Promise<StorageBackend>;

const T0 = 1_700_000_000_000;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal((err as { code?: unknown }).code, code, `expected code ${code}, got ${String(err)}`);
    return true;
  });
}

const ids = (items: ArchiveItem[]): string[] => items.map((i) => i.id);

/** Registers the contract suite for one backend. */
export function runStorageContract(name: string, make: MakeBackend): void {
  describe(`storage contract: ${name}`, () => {
    let s: StorageBackend;
    let clock = T0;
    beforeEach(async () => {
      clock = T0;
      s = await make({ now: () => clock });
    });
    afterEach(async () => {
      await s.close();
    });

    describe("kv", () => {
      it("gets, sets, overwrites and deletes", async () => {
        const kv = s.kv<{ n: number }>("vcard");
        assert.equal(await kv.get("juliet@example.com"), undefined);
        await kv.set("juliet@example.com", { n: 1 });
        assert.deepEqual(await kv.get("juliet@example.com"), { n: 1 });
        await kv.set("juliet@example.com", { n: 2 });
        assert.deepEqual(await kv.get("juliet@example.com"), { n: 2 });
        await kv.set("juliet@example.com", undefined);
        assert.equal(await kv.get("juliet@example.com"), undefined);
        assert.deepEqual(await kv.owners(), []);
      });

      it("stores null and falsy values as values, not deletions", async () => {
        const kv = s.kv("flags");
        await kv.set("a", null);
        await kv.set("b", 0);
        await kv.set("c", "");
        await kv.set("d", false);
        assert.equal(await kv.get("a"), null);
        assert.equal(await kv.get("b"), 0);
        assert.equal(await kv.get("c"), "");
        assert.equal(await kv.get("d"), false);
        assert.deepEqual(await kv.owners(), ["a", "b", "c", "d"]);
      });

      it("keeps stores apart and returns copies", async () => {
        const obj = { list: [1, 2] };
        await s.kv("one").set("o", obj);
        obj.list.push(3);
        const got = (await s.kv<{ list: number[] }>("one").get("o"))!;
        assert.deepEqual(got, { list: [1, 2] });
        got.list.push(9);
        assert.deepEqual(await s.kv("one").get("o"), { list: [1, 2] });
        assert.equal(await s.kv("two").get("o"), undefined);
      });

      it("lists owners sorted by code point, filtered by an exact, literal suffix", async () => {
        const kv = s.kv("accounts");
        for (const o of ["romeo@example.com", "juliet@example.com", "nurse@example.org", "x@EXAMPLE.COM", "a%b_c"]) {
          await kv.set(o, 1);
        }
        await s.kv("other").set("tybalt@example.com", 1);
        assert.deepEqual(await kv.owners(), ["a%b_c", "juliet@example.com", "nurse@example.org", "romeo@example.com", "x@EXAMPLE.COM"]);
        assert.deepEqual(await kv.owners("@example.com"), ["juliet@example.com", "romeo@example.com"]);
        assert.deepEqual(await kv.owners("b_c"), ["a%b_c"]);
        assert.deepEqual(await kv.owners("_c"), ["a%b_c"]);
        assert.deepEqual(await kv.owners("%"), []); // wildcards are literal
        assert.deepEqual(await kv.owners("x_c"), []);
        assert.deepEqual(await kv.owners(""), await kv.owners());
      });

      it("rejects values that are not JSON", async () => {
        await rejectsWith(s.kv("k").set("o", 1n), "bad-value");
        await rejectsWith(s.kv("k").set("o", () => 1), "bad-value");
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        await rejectsWith(s.kv("k").set("o", cyclic), "bad-value");
        assert.equal(await s.kv("k").get("o"), undefined);
      });
    });

    describe("map", () => {
      it("gets, sets, deletes, lists and clears", async () => {
        const m = s.map<string>("roster");
        assert.equal(await m.get("juliet@example.com", "romeo@example.com"), undefined);
        await m.set("juliet@example.com", "romeo@example.com", "both");
        await m.set("juliet@example.com", "nurse@example.com", "to");
        await m.set("juliet@example.com", "nurse@example.com", "from");
        await m.set("romeo@example.com", "juliet@example.com", "both");
        assert.equal(await m.get("juliet@example.com", "nurse@example.com"), "from");
        assert.deepEqual(
          [...(await m.getAll("juliet@example.com"))],
          [
            ["nurse@example.com", "from"],
            ["romeo@example.com", "both"],
          ],
        );
        await m.set("juliet@example.com", "nurse@example.com", undefined);
        assert.equal(await m.get("juliet@example.com", "nurse@example.com"), undefined);
        assert.equal(await m.clear("juliet@example.com"), 1);
        assert.equal(await m.clear("juliet@example.com"), 0);
        assert.equal((await m.getAll("juliet@example.com")).size, 0);
        assert.equal(await m.get("romeo@example.com", "juliet@example.com"), "both");
        assert.equal(await s.map("other").get("romeo@example.com", "juliet@example.com"), undefined);
      });

      it("setMany writes and deletes in one call", async () => {
        const m = s.map<number>("prefs");
        await m.setMany("o", { a: 1, b: 2, c: 3 });
        await m.setMany("o", { a: undefined, b: 20, d: 4 });
        await m.setMany("o", {});
        assert.deepEqual(Object.fromEntries(await m.getAll("o")), { b: 20, c: 3, d: 4 });
      });

      it("setMany is all or nothing", async () => {
        const m = s.map<unknown>("prefs");
        await m.setMany("o", { a: 1, b: 2 });
        await rejectsWith(m.setMany("o", { a: 10, c: 3, z: 1n }), "bad-value");
        assert.deepEqual(Object.fromEntries(await m.getAll("o")), { a: 1, b: 2 });
        // A reader racing a batch sees it entirely or not at all.
        const batch: Record<string, number> = {};
        for (let i = 0; i < 50; i++) batch[`k${i}`] = i;
        const [, seen] = await Promise.all([m.setMany("p", batch), m.getAll("p")]);
        assert.ok(seen.size === 0 || seen.size === 50, `saw ${seen.size} of 50`);
        assert.equal((await m.getAll("p")).size, 50);
      });
    });

    describe("archive", () => {
      it("generates unguessable unique ids and keeps given ones", async () => {
        const a = s.archive("mam");
        const seen = new Set<string>();
        for (let i = 0; i < 100; i++) {
          const id = await a.append("o", { value: i });
          assert.match(id, /^[A-Za-z0-9_-]{22}$/);
          seen.add(id);
        }
        assert.equal(seen.size, 100);
        assert.equal(await a.append("o", { id: "given-1", value: "x" }), "given-1");
        const r = await a.query("o", { ids: ["given-1"] });
        assert.deepEqual(r.items, [{ id: "given-1", when: T0, with: "", value: "x" }]);
      });

      it("appendSoon gives the id at once and the row once durable, in append order", async () => {
        const a = s.archive("mam");
        const first = await a.append("o", { with: "romeo@example.com", value: "before" });
        const soon = [0, 1, 2].map((i) => a.appendSoon("o", { with: "romeo@example.com", value: `soon${i}` }));
        for (const { id } of soon) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
        assert.equal(new Set(soon.map((x) => x.id)).size, 3);
        await Promise.all(soon.map((x) => x.durable));
        const r = await a.query("o");
        assert.deepEqual(
          r.items.map((i) => [i.id, i.value]),
          [[first, "before"], ...soon.map((x, i) => [x.id, `soon${i}`])],
        );
        // the id can anchor a page and be fetched as soon as it is durable
        assert.deepEqual((await a.query("o", { ids: [soon[1]!.id] })).items.map((i) => i.value), ["soon1"]);
        assert.deepEqual((await a.query("o", { after: soon[0]!.id })).items.map((i) => i.value), ["soon1", "soon2"]);
        assert.throws(() => a.appendSoon("o", { when: 1.5, value: 1 }), (e: unknown) => (e as { code?: string }).code === "bad-argument");
        assert.throws(() => a.appendSoon("o", { value: undefined }), (e: unknown) => (e as { code?: string }).code === "bad-value");
      });

      it("rejects a duplicate id for the same owner, not for another owner", async () => {
        const a = s.archive("mam");
        await a.append("juliet@example.com", { id: "dup", value: 1 });
        await rejectsWith(a.append("juliet@example.com", { id: "dup", value: 2 }), "conflict");
        await a.append("romeo@example.com", { id: "dup", value: 3 });
        await s.archive("other").append("juliet@example.com", { id: "dup", value: 4 });
        assert.deepEqual(
          (await a.query("juliet@example.com")).items.map((i) => i.value),
          [1],
        );
        await rejectsWith(a.append("o", { id: "", value: 1 }), "bad-argument");
        await rejectsWith(a.append("o", { when: 1.5, value: 1 }), "bad-argument");
        await rejectsWith(a.append("o", { value: undefined }), "bad-value");
      });

      it("returns items oldest first, stable for equal timestamps, with a count", async () => {
        const a = s.archive<string>("mam");
        await a.append("o", { id: "late", when: T0 + 100, value: "late" });
        for (let i = 0; i < 10; i++) await a.append("o", { id: `same${i}`, when: T0, value: `same${i}` });
        await a.append("o", { id: "early", when: T0 - 100, value: "early" });
        await a.append("o", { id: "same10", when: T0, value: "same10" });
        const r = await a.query("o");
        assert.deepEqual(ids(r.items), ["early", ...Array.from({ length: 11 }, (_, i) => `same${i}`), "late"]);
        assert.equal(r.complete, true);
        assert.equal(r.count, 13);
        // Same order when an id filter is used (ids sort differently from arrival: same10 < same2).
        const some = ["late", "same2", "same10", "same1", "early"];
        assert.deepEqual(ids((await a.query("o", { ids: some })).items), ["early", "same1", "same2", "same10", "late"]);
        const back = await a.query("o", { ids: some, reverse: true, limit: 3 });
        assert.deepEqual(ids(back.items), ["same2", "same10", "late"]);
        assert.deepEqual(await a.query("nobody"), { items: [], complete: true, count: 0 });
      });

      it("filters by with, start/end (inclusive) and ids, alone and combined", async () => {
        const a = s.archive<number>("mam");
        for (let i = 0; i < 20; i++) {
          await a.append("o", { id: `m${i}`, when: T0 + i * 10, with: i % 2 === 0 ? "romeo@example.com" : "nurse@example.com", value: i });
        }
        await a.append("other", { id: "x", when: T0, with: "romeo@example.com", value: -1 });
        const q = async (query: Parameters<typeof a.query>[1]) => (await a.query("o", query)).items.map((i) => i.value);

        assert.deepEqual(await q({ with: "romeo@example.com" }), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
        assert.deepEqual(await q({ with: "romeo@example.com/balcony" }), []);
        assert.deepEqual(await q({ with: "" }), []);
        assert.deepEqual(await q({ start: T0 + 170 }), [17, 18, 19]);
        assert.deepEqual(await q({ end: T0 + 20 }), [0, 1, 2]);
        assert.deepEqual(await q({ start: T0 + 50, end: T0 + 80 }), [5, 6, 7, 8]);
        assert.deepEqual(await q({ start: T0 + 51, end: T0 + 79 }), [6, 7]);
        assert.deepEqual(await q({ start: T0 + 80, end: T0 + 50 }), []);
        assert.deepEqual(await q({ ids: ["m3", "m1", "nope", "x", "m1"] }), [1, 3]);
        assert.deepEqual(await q({ ids: [] }), []);
        assert.deepEqual(await q({ with: "nurse@example.com", start: T0 + 30, end: T0 + 150, ids: ["m3", "m4", "m5", "m19"] }), [3, 5]);
        const r = await a.query("o", { with: "nurse@example.com", start: T0 + 30, limit: 2 });
        assert.equal(r.count, 9);
        assert.deepEqual(r.items.map((i) => i.value), [3, 5]);
        assert.equal(r.complete, false);
        assert.equal((await a.query("o", { ids: [] })).count, 0);
      });

      it("pages forward through 250 items with after", async () => {
        const a = s.archive<number>("mam");
        const all: string[] = [];
        for (let i = 0; i < 250; i++) all.push(await a.append("o", { when: T0 + Math.floor(i / 3), value: i }));
        const got: string[] = [];
        let after: string | undefined;
        let pages = 0;
        for (;;) {
          const r = await a.query("o", { after, limit: 20 });
          pages++;
          assert.equal(r.count, 250);
          got.push(...ids(r.items));
          if (r.complete) break;
          assert.equal(r.items.length, 20);
          after = r.items.at(-1)!.id;
          assert.ok(pages < 20, "paging does not end");
        }
        assert.equal(pages, 13);
        assert.deepEqual(got, all);
        // The page that ends exactly at the end is complete: nothing lies beyond it.
        const tail = await a.query("o", { after: all[229], limit: 20 });
        assert.equal(tail.items.length, 20);
        assert.equal(tail.complete, true);
        const empty = await a.query("o", { after: all[249], limit: 20 });
        assert.deepEqual(empty.items, []);
        assert.equal(empty.complete, true);
      });

      it("pages backward through 250 items with before, starting from an empty before", async () => {
        const a = s.archive<number>("mam");
        const all: string[] = [];
        for (let i = 0; i < 250; i++) all.push(await a.append("o", { when: T0 + Math.floor(i / 4), value: i }));
        const pages: string[][] = [];
        let before = "";
        for (;;) {
          const r = await a.query("o", { before, limit: 30 });
          assert.equal(r.count, 250);
          const page = ids(r.items);
          pages.unshift(page);
          if (r.complete) break;
          assert.equal(page.length, 30);
          before = page[0]!;
          assert.ok(pages.length < 20, "paging does not end");
        }
        assert.equal(pages.length, 9);
        assert.deepEqual(pages.flat(), all);
        assert.equal(pages[0]!.length, 10);
        const head = await a.query("o", { before: all[0], limit: 5 });
        assert.deepEqual(head.items, []);
        assert.equal(head.complete, true);
      });

      it("pages through a filtered archive, anchored on items outside the filter", async () => {
        const a = s.archive<number>("mam");
        const all: string[] = [];
        for (let i = 0; i < 60; i++) all.push(await a.append("o", { when: T0 + i, with: i % 3 === 0 ? "romeo@x" : "nurse@x", value: i }));
        const r = await a.query("o", { with: "romeo@x", after: all[10], limit: 3 });
        assert.deepEqual(r.items.map((i) => i.value), [12, 15, 18]);
        assert.equal(r.count, 20);
        assert.equal(r.complete, false);
        const b = await a.query("o", { with: "romeo@x", before: all[10], limit: 3 });
        assert.deepEqual(b.items.map((i) => i.value), [3, 6, 9]);
        assert.equal(b.complete, false);
        const c = await a.query("o", { with: "romeo@x", before: all[10], limit: 4 });
        assert.deepEqual(c.items.map((i) => i.value), [0, 3, 6, 9]);
        assert.equal(c.complete, true);
      });

      it("pages in time order when items arrive out of order", async () => {
        const a = s.archive<number>("mam");
        // Arrival order 0..11, times descending in pairs: store order differs from arrival.
        for (let i = 0; i < 12; i++) await a.append("o", { id: `m${i}`, when: T0 + 100 - Math.floor(i / 2) * 10, value: i });
        const order = ["m10", "m11", "m8", "m9", "m6", "m7", "m4", "m5", "m2", "m3", "m0", "m1"];
        assert.deepEqual(ids((await a.query("o")).items), order);
        const fwd = await a.query("o", { after: "m9", limit: 3 });
        assert.deepEqual(ids(fwd.items), ["m6", "m7", "m4"]);
        assert.equal(fwd.complete, false);
        const back = await a.query("o", { before: "m9", limit: 2 });
        assert.deepEqual(ids(back.items), ["m11", "m8"]);
        assert.equal(back.complete, false);
        const between = await a.query("o", { after: "m11", before: "m2" });
        assert.deepEqual(ids(between.items), ["m8", "m9", "m6", "m7", "m4", "m5"]);
        const tail = await a.query("o", { after: "m3" });
        assert.deepEqual(ids(tail.items), ["m0", "m1"]);
      });

      it("reverse takes the last page, still oldest first", async () => {
        const a = s.archive<number>("mam");
        for (let i = 0; i < 10; i++) await a.append("o", { when: T0 + i, value: i });
        const r = await a.query("o", { reverse: true, limit: 3 });
        assert.deepEqual(r.items.map((i) => i.value), [7, 8, 9]);
        assert.equal(r.complete, false);
        assert.equal(r.count, 10);
        const all = await a.query("o", { reverse: true });
        assert.deepEqual(all.items.map((i) => i.value), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert.equal(all.complete, true);
        const exact = await a.query("o", { reverse: true, limit: 10 });
        assert.equal(exact.items.length, 10);
        assert.equal(exact.complete, true);
        const filtered = await a.query("o", { reverse: true, limit: 2, end: T0 + 5 });
        assert.deepEqual(filtered.items.map((i) => i.value), [4, 5]);
        // reverse + after: the last page of what follows the anchor.
        const first = (await a.query("o", { limit: 1 })).items[0]!.id;
        const ra = await a.query("o", { reverse: true, after: first, limit: 2 });
        assert.deepEqual(ra.items.map((i) => i.value), [8, 9]);
        assert.equal(ra.complete, false);
      });

      it("after and before together give the items strictly between", async () => {
        const a = s.archive<number>("mam");
        const all: string[] = [];
        for (let i = 0; i < 10; i++) all.push(await a.append("o", { when: T0, value: i }));
        const r = await a.query("o", { after: all[2], before: all[7] });
        assert.deepEqual(r.items.map((i) => i.value), [3, 4, 5, 6]);
        assert.equal(r.complete, true);
        const last2 = await a.query("o", { after: all[2], before: all[7], limit: 2 });
        assert.deepEqual(last2.items.map((i) => i.value), [5, 6]);
        assert.equal(last2.complete, false);
        const none = await a.query("o", { after: all[7], before: all[2] });
        assert.deepEqual(none.items, []);
        // An empty after is no anchor: the first page.
        assert.deepEqual((await a.query("o", { after: "", limit: 1 })).items.map((i) => i.value), [0]);
      });

      it("throws item-not-found for an unknown, deleted or foreign anchor", async () => {
        const a = s.archive("mam");
        const mine = await a.append("juliet@example.com", { value: 1 });
        const theirs = await a.append("romeo@example.com", { value: 2 });
        const elsewhere = await s.archive("other").append("juliet@example.com", { value: 3 });
        await rejectsWith(a.query("juliet@example.com", { after: "nope" }), "item-not-found");
        await rejectsWith(a.query("juliet@example.com", { before: "nope", limit: 5 }), "item-not-found");
        await rejectsWith(a.query("juliet@example.com", { after: theirs }), "item-not-found");
        await rejectsWith(a.query("juliet@example.com", { after: elsewhere }), "item-not-found");
        await rejectsWith(a.query("juliet@example.com", { after: mine, before: "nope" }), "item-not-found");
        await rejectsWith(a.query("nobody", { after: "nope", limit: 0 }), "item-not-found");
        await a.delete("juliet@example.com", { ids: [mine] });
        await rejectsWith(a.query("juliet@example.com", { after: mine }), "item-not-found");
      });

      it("limit 0 returns the count only", async () => {
        const a = s.archive("mam");
        const r0 = await a.query("o", { limit: 0 });
        assert.deepEqual(r0, { items: [], complete: true, count: 0 });
        for (let i = 0; i < 5; i++) await a.append("o", { value: i });
        const r = await a.query("o", { limit: 0 });
        assert.deepEqual(r.items, []);
        assert.equal(r.count, 5);
        assert.equal(r.complete, false);
        assert.equal((await a.query("o", { limit: 0, before: "" })).complete, false);
        await rejectsWith(a.query("o", { limit: -1 }), "bad-argument");
        await rejectsWith(a.query("o", { limit: 1.5 }), "bad-argument");
        await rejectsWith(a.query("o", { start: Number.NaN }), "bad-argument");
      });

      it("defaults when to the clock and with to empty", async () => {
        const a = s.archive("mam");
        clock = T0 + 42;
        const id = await a.append("o", { value: "v" });
        assert.deepEqual((await a.query("o")).items, [{ id, when: T0 + 42, with: "", value: "v" }]);
      });

      it("deletes all, or by ids, with and end (inclusive), only the owner's items", async () => {
        const a = s.archive<number>("mam");
        for (let i = 0; i < 10; i++) {
          await a.append("o", { id: `m${i}`, when: T0 + i, with: i < 5 ? "a@x" : "b@x", value: i });
          await a.append("p", { id: `m${i}`, when: T0 + i, with: "a@x", value: i });
        }
        const values = async () => (await a.query("o")).items.map((i) => i.value);
        assert.equal(await a.delete("o", { ids: [] }), 0);
        assert.equal(await a.delete("o", { ids: ["m0", "m9", "nope"] }), 2);
        assert.deepEqual(await values(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert.equal(await a.delete("o", { end: T0 + 2 }), 2);
        assert.deepEqual(await values(), [3, 4, 5, 6, 7, 8]);
        assert.equal(await a.delete("o", { with: "b@x", end: T0 + 6 }), 2);
        assert.deepEqual(await values(), [3, 4, 7, 8]);
        assert.equal(await a.delete("o", { with: "a@x", ids: ["m3", "m7"] }), 1);
        assert.deepEqual(await values(), [4, 7, 8]);
        assert.equal(await a.delete("o"), 3);
        assert.deepEqual(await values(), []);
        assert.equal(await a.delete("o"), 0);
        assert.equal((await a.query("p")).count, 10);
      });

      it("answers random queries and deletions over items appended in batches as a sort and filter of them would", async () => {
        // Appends in one event-loop turn are written together (the SQLite backend keeps them as
        // one chunk per owner), with times out of arrival order and overlapping between batches;
        // given ids, each alone in its turn, are kept apart. Every query is checked against a
        // plain sort (time, then arrival) and filter of what was appended.
        const a = s.archive<number>("mam");
        let seed = 7;
        const rnd = (n: number) => {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          return Math.floor((seed / 2147483648) * n);
        };
        const peers = ["a@x", "b@x", "c@x"];
        const SPAN = 50; // times: many items share one
        type Kept = { id: string; when: number; with: string; value: number };
        const kept: Kept[] = [];
        let next = 0;
        for (let batch = 0; batch < 14; batch++) {
          if (batch % 5 === 4) {
            const item = { id: `given${batch}`, when: T0 + rnd(SPAN), with: peers[rnd(3)]!, value: next++ };
            await a.append("o", item);
            kept.push(item);
            continue;
          }
          const specs = Array.from({ length: 1 + rnd(30) }, () => ({ when: T0 + rnd(SPAN), with: peers[rnd(3)]!, value: next++ }));
          const got = await Promise.all(specs.map((x) => a.append("o", x)));
          specs.forEach((x, k) => kept.push({ id: got[k]!, ...x }));
          await Promise.all(specs.map((x) => a.append("p", { when: x.when, with: "o", value: -1 })));
        }
        const order = (x: Kept, y: Kept) => x.when - y.when || x.value - y.value;
        const check = async (label: string) => {
          const sorted = [...kept].sort(order);
          const at = new Map(sorted.map((x, i) => [x.id, i]));
          for (let k = 0; k < 150; k++) {
            const q: ArchiveQuery = {};
            const some = () => (sorted.length === 0 ? "nope" : sorted[rnd(sorted.length)]!.id);
            if (rnd(3) === 0) q.with = peers[rnd(3)];
            if (rnd(3) === 0) q.start = T0 + rnd(SPAN);
            if (rnd(3) === 0) q.end = T0 + rnd(SPAN);
            if (rnd(6) === 0) q.ids = Array.from({ length: rnd(6) }, some);
            if (rnd(3) === 0) q.after = some();
            if (rnd(3) === 0) q.before = rnd(4) === 0 ? "" : some();
            if (rnd(3) !== 0) q.limit = rnd(12);
            if (rnd(4) === 0) q.reverse = true;
            const match = sorted.filter(
              (x) =>
                (q.with === undefined || x.with === q.with) &&
                (q.start === undefined || x.when >= q.start) &&
                (q.end === undefined || x.when <= q.end) &&
                (q.ids === undefined || q.ids.includes(x.id)),
            );
            const range = match.filter(
              (x) => (q.after === undefined || at.get(x.id)! > at.get(q.after)!) && (!q.before || at.get(x.id)! < at.get(q.before)!),
            );
            const fromEnd = q.reverse === true || q.before !== undefined;
            const cut = q.limit !== undefined && range.length > q.limit;
            const page = !cut ? range : fromEnd ? range.slice(range.length - q.limit!) : range.slice(0, q.limit);
            const r = await a.query("o", q);
            const what = `${label}: ${JSON.stringify(q)}`;
            assert.deepEqual(r.items.map((i) => i.value), page.map((x) => x.value), what);
            assert.deepEqual(r.items.map((i) => [i.id, i.when, i.with]), page.map((x) => [x.id, x.when, x.with]), what);
            assert.equal(r.count, match.length, what);
            assert.equal(r.complete, !cut, what);
          }
        };
        await check("as appended");
        const drop = async (q: { with?: string; end?: number; ids?: string[] }) => {
          const gone = kept.filter(
            (x) => (q.with === undefined || x.with === q.with) && (q.end === undefined || x.when <= q.end) && (q.ids === undefined || q.ids.includes(x.id)),
          );
          assert.equal(await a.delete("o", q), gone.length, JSON.stringify(q));
          for (const g of gone) kept.splice(kept.indexOf(g), 1);
        };
        await drop({ ids: kept.filter((_, i) => i % 7 === 3).map((x) => x.id) });
        await drop({ with: "b@x", end: T0 + 30 });
        await drop({ end: T0 + 8 });
        await check("after deletions");
        const expired = kept.filter((x) => x.when < T0 + 20).length;
        const expiredP = (await a.query("p", { end: T0 + 19, limit: 0 })).count ?? 0;
        assert.equal(await s.expire("mam", T0 + 20), expired + expiredP);
        kept.splice(0, kept.length, ...kept.filter((x) => x.when >= T0 + 20));
        await check("after expiry");
        assert.equal((await a.query("p", { end: T0 + 19 })).count, 0);
        // export and backup list the items in store order too
        const inOrder = [...kept].sort(order).map((x) => x.id);
        const dumped = (await s.dumpOwner("o", "mam")).flatMap((r) => (r.shape === "archive" ? [r.id] : []));
        assert.deepEqual(dumped, inOrder);
        const snap: string[] = [];
        for await (const r of s.snapshot()) if (r.shape === "archive" && r.store === "mam" && r.owner === "o") snap.push(r.id);
        assert.deepEqual(snap, inOrder);
      });
    });

    describe("owners' data lifecycle", () => {
      async function seed(owner: string, peer: string): Promise<void> {
        await s.kv("vcard").set(owner, { fn: `name of ${owner}` });
        await s.kv("prefs").set(owner, { x: 1 });
        await s.map("roster").setMany(owner, { [peer]: { sub: "both" }, "third@example.net": { sub: "to" } });
        for (let i = 0; i < 5; i++) await s.archive("mam").append(owner, { with: peer, value: { body: `hi ${i}` } });
        await s.archive("offline").append(owner, { value: { body: "later" } });
      }
      const stores = ["vcard", "prefs", "roster", "mam", "offline"];

      it("purgeOwner removes every row of the owner and nothing else", async () => {
        await seed("juliet@example.com", "nurse@example.com");
        await seed("romeo@example.com", "benvolio@example.com");
        const romeoBefore = await Promise.all(stores.map((st) => s.dumpOwner("romeo@example.com", st)));
        assert.ok((await s.countMentions("juliet@example.com")) > 0);

        const counts = await s.purgeOwner("juliet@example.com", stores);
        assert.deepEqual(counts, { vcard: 1, prefs: 1, roster: 2, mam: 5, offline: 1 });
        assert.equal(await s.countMentions("juliet@example.com"), 0);
        for (const st of stores) assert.deepEqual(await s.dumpOwner("juliet@example.com", st), []);
        const romeoAfter = await Promise.all(stores.map((st) => s.dumpOwner("romeo@example.com", st)));
        assert.deepEqual(romeoAfter, romeoBefore);
        assert.deepEqual(await s.purgeOwner("juliet@example.com", stores), { vcard: 0, prefs: 0, roster: 0, mam: 0, offline: 0 });
      });

      it("purgeOwner touches only the named stores", async () => {
        await seed("juliet@example.com", "nurse@example.com");
        assert.deepEqual(await s.purgeOwner("juliet@example.com", ["mam", "vcard", "absent"]), { mam: 5, vcard: 1, absent: 0 });
        assert.equal((await s.dumpOwner("juliet@example.com", "roster")).length, 2);
        assert.equal((await s.dumpOwner("juliet@example.com", "offline")).length, 1);
        assert.equal((await s.dumpOwner("juliet@example.com", "mam")).length, 0);
      });

      it("dumpOwner lists kv, then map by key, then archive in store order", async () => {
        await s.kv("mixed").set("o", "kv");
        await s.map("mixed").set("o", "b", 2);
        await s.map("mixed").set("o", "a", 1);
        await s.archive("mixed").append("o", { id: "late", when: T0 + 1, with: "p@x", value: "second" });
        await s.archive("mixed").append("o", { id: "early", when: T0, value: "first" });
        await s.kv("mixed").set("other", "not mine");
        assert.deepEqual(await s.dumpOwner("o", "mixed"), [
          { shape: "kv", value: "kv" },
          { shape: "map", key: "a", value: 1 },
          { shape: "map", key: "b", value: 2 },
          { shape: "archive", id: "early", when: T0, with: "", value: "first" },
          { shape: "archive", id: "late", when: T0 + 1, with: "p@x", value: "second" },
        ]);
        assert.deepEqual(await s.dumpOwner("nobody", "mixed"), []);
      });

      it("countMentions finds the needle in owners, keys, ids, peers and values", async () => {
        const j = "juliet@example.com";
        assert.equal(await s.countMentions(j), 0);
        await s.kv("a").set(j, 1); // owner
        await s.kv("a").set("romeo@example.com", { note: `loves ${j}` }); // value
        await s.map("roster").set("romeo@example.com", j, { sub: "both" }); // key
        await s.map("roster").set("nurse@example.com", "x", [j]); // value
        await s.archive("mam").append("romeo@example.com", { with: j, value: "hi" }); // peer
        await s.archive("mam").append("romeo@example.com", { id: `about-${j}`, value: "hi" }); // id
        await s.archive("mam").append("tybalt@example.com", { value: { to: j } }); // value
        await s.archive("mam").append("nobody@example.com", { value: "Juliet@Example.com" }); // case differs
        assert.equal(await s.countMentions(j), 7);
        assert.equal(await s.countMentions("benvolio"), 0);
        await s.purgeOwner("romeo@example.com", ["a", "roster", "mam"]);
        assert.equal(await s.countMentions(j), 3);
      });

      it("expire removes rows written strictly before the cut, per store", async () => {
        await s.kv("cache").set("old", 1);
        await s.map("cache").set("o", "old", 1);
        await s.archive("cache").append("o", { id: "old", value: 1 });
        await s.kv("keep").set("old", 1);
        clock = T0 + 1000;
        await s.kv("cache").set("new", 2);
        await s.map("cache").set("o", "new", 2);
        await s.archive("cache").append("o", { id: "new", value: 2 });
        await s.archive("cache").append("o", { id: "backdated", when: T0 - 5, value: 3 });
        clock = T0 + 5000;
        // Rewriting refreshes `updated`.
        await s.map("cache").set("o", "refreshed", 0);

        assert.equal(await s.expire("cache", T0 - 5), 0); // strictly before
        assert.equal(await s.expire("cache", T0 + 1), 4);
        assert.deepEqual(await s.kv("cache").owners(), ["new"]);
        assert.deepEqual([...(await s.map("cache").getAll("o")).keys()], ["new", "refreshed"]);
        assert.deepEqual(ids((await s.archive("cache").query("o")).items), ["new"]);
        assert.deepEqual(await s.kv("keep").owners(), ["old"]);
        assert.equal(await s.expire("cache", T0 + 1001), 3);
        assert.equal(await s.expire("cache", T0 + 5000), 0);
        assert.equal(await s.expire("cache", T0 + 5001), 1);
        assert.deepEqual(await s.dumpOwner("o", "cache"), []);
      });
    });

    describe("values", () => {
      it("round-trips unicode in owners, keys, peers and values", async () => {
        const owner = "jüliet@例え.テスト";
        const key = "ромео@пример.рф";
        const value = {
          text: "emoji 😀👩‍👩‍👧 rtl שלום combining é nul \u0000 tab \t quote \" backslash \\",
          lone: "\ud800",
          nested: [{ "ключ": "値" }],
        };
        await s.kv("u").set(owner, value);
        await s.map("u").set(owner, key, value);
        await s.archive("u").append(owner, { id: "😀-id", with: key, value });
        assert.deepEqual(await s.kv("u").get(owner), value);
        assert.deepEqual(await s.map("u").get(owner, key), value);
        assert.deepEqual((await s.archive("u").query(owner, { with: key })).items, [{ id: "😀-id", when: T0, with: key, value }]);
        assert.deepEqual(await s.kv("u").owners(".テスト"), [owner]);
        assert.equal(await s.countMentions("例え"), 3);
        assert.equal(await s.countMentions("שלום"), 3);
      });

      it("round-trips strings exactly, whatever they hold", async () => {
        // Strings are stored as they are (behind a marker); one that UTF-8 cannot carry goes as JSON
        const strings = [
          "",
          "=",
          "=starts like the marker",
          "{not json",
          '"quoted"',
          "two\nlines\r\nand a\ttab, a backslash \\ and \u2028",
          "emoji 😀 and é",
          "lone \ud800 surrogate",
          "\udc00",
          '<message xmlns="jabber:client" to="a@b"><body>hi\n&amp; bye</body></message>',
        ];
        for (const [i, v] of strings.entries()) {
          await s.kv("str").set(`o${i}`, v);
          await s.map("str").set("o", `k${i}`, v);
        }
        const soon = strings.map((v) => s.archive("str").appendSoon("o", { with: "p", value: v }));
        await Promise.all(soon.map((x) => x.durable));
        await s.archive("str").append("o", { id: "given", value: strings[5] });
        for (const [i, v] of strings.entries()) {
          assert.equal(await s.kv("str").get(`o${i}`), v);
          assert.equal(await s.map("str").get("o", `k${i}`), v);
        }
        const items = (await s.archive("str").query("o")).items;
        assert.deepEqual(items.map((i) => i.value), [...strings, strings[5]]);
        assert.deepEqual(items.slice(0, -1).map((i) => i.id), soon.map((x) => x.id));
      });

      it("orders owners and keys by code point, not UTF-16 unit", async () => {
        // U+1F600 is above U+FFFD by code point, below it by UTF-16 unit (0xD83D).
        for (const o of ["\u{1F600}", "\uFFFD", "z", "é"]) {
          await s.kv("order").set(o, 1);
          await s.map("order").set("o", o, 1);
        }
        const want = ["z", "é", "\uFFFD", "\u{1F600}"];
        assert.deepEqual(await s.kv("order").owners(), want);
        assert.deepEqual([...(await s.map("order").getAll("o")).keys()], want);
      });

      it("round-trips large values", async () => {
        const big = "x".repeat(1 << 20) + "😀";
        const many = Array.from({ length: 20_000 }, (_, i) => ({ i, s: `item ${i}` }));
        await s.kv("big").set("o", big);
        await s.map("big").set("o", "k", many);
        await s.archive("big").append("o", { value: { big, many } });
        assert.equal(await s.kv("big").get("o"), big);
        assert.deepEqual(await s.map("big").get("o", "k"), many);
        const item = (await s.archive("big").query("o")).items[0]!;
        assert.deepEqual(item.value, { big, many });
      });
    });

    describe("snapshot and restore (backups)", () => {
      async function drain(it: AsyncIterable<SnapshotRow>): Promise<SnapshotRow[]> {
        const out: SnapshotRow[] = [];
        for await (const r of it) out.push(r);
        return out;
      }
      /** A snapshot without the archive seq numbers (a restore keeps the order, not the numbers). */
      const withoutSeq = (rows: SnapshotRow[]): unknown[] => rows.map((r) => (r.shape === "archive" ? { ...r, seq: 0 } : r));

      async function populate(): Promise<void> {
        await s.kv("accounts").set("juliet@example.com", { salt: "c2FsdA==", iterations: 4096 });
        await s.kv("accounts").set("ñandú@example.com", { salt: "x" });
        await s.kv("accounts").set("𝔞@example.com", { salt: "y" }); // above U+FFFF: code point order
        clock += 1000;
        await s.kv("vcard").set("juliet@example.com", { fn: "Juliet", note: "line\nbreak \u2028 \"quoted\"" });
        await s.map("roster").setMany("juliet@example.com", { "romeo@example.com": { sub: "both" }, "nurse@example.com": { sub: "to" } });
        clock += 1000;
        await s.map("roster").set("romeo@example.com", "juliet@example.com", { sub: "both" });
        // equal timestamps: the store order is arrival order; a deleted item leaves a seq gap
        const gone = await s.archive("mam").append("juliet@example.com", { when: 5000, with: "romeo@example.com", value: { body: "x" } });
        for (let i = 0; i < 4; i++) await s.archive("mam").append("juliet@example.com", { when: 5000, with: "romeo@example.com", value: { body: `m${i}` } });
        await s.archive("mam").append("juliet@example.com", { when: 4000, value: { body: "earlier" } });
        await s.archive("mam").delete("juliet@example.com", { ids: [gone] });
        await s.archive("offline").append("romeo@example.com", { id: "given-id", value: { body: "later" } });
      }

      async function dumpAll(b: StorageBackend): Promise<unknown> {
        const owners = ["juliet@example.com", "romeo@example.com", "ñandú@example.com", "𝔞@example.com"];
        const stores = ["accounts", "vcard", "roster", "mam", "offline"];
        const out: Record<string, unknown> = {};
        for (const st of stores) for (const o of owners) out[`${st}/${o}`] = await b.dumpOwner(o, st);
        return out;
      }

      it("snapshot then restore into an empty backend gives the same data, order and stamps", async () => {
        await populate();
        const rows = await drain(s.snapshot());
        assert.equal(rows.length, 3 + 1 + 3 + 5 + 1);
        // kv, then map, then archive; archive rows carry their order
        assert.deepEqual([...new Set(rows.map((r) => r.shape))], ["kv", "map", "archive"]);
        const mam = rows.filter((r) => r.shape === "archive" && r.store === "mam");
        assert.deepEqual(mam.map((r) => JSON.parse(r.value).body), ["earlier", "m0", "m1", "m2", "m3"]);
        assert.deepEqual(rows.filter((r) => r.store === "accounts").map((r) => r.owner), ["juliet@example.com", "ñandú@example.com", "𝔞@example.com"]);

        const t = await make({ now: () => clock + 99_999 });
        try {
          assert.equal(await t.restoreRows(rows), rows.length);
          assert.deepEqual(await dumpAll(t), await dumpAll(s));
          assert.deepEqual(withoutSeq(await drain(t.snapshot())), withoutSeq(rows));
          // updated stamps survive: retention expires the same rows as in the original
          assert.equal(await t.expire("accounts", T0 + 500), 3);
          // a new item at an equal time still sorts after the restored ones
          const late = await t.archive("mam").append("juliet@example.com", { when: 5000, value: { body: "new" } });
          assert.equal((await t.archive("mam").query("juliet@example.com", { reverse: true, limit: 1 })).items[0]!.id, late);
        } finally {
          await t.close();
        }
      });

      it("restores from an async stream, and a conflicting or malformed row is refused", async () => {
        await populate();
        const t = await make({ now: () => clock });
        try {
          async function* gen(): AsyncGenerator<SnapshotRow> {
            yield* s.snapshot();
          }
          await t.restoreRows(gen());
          assert.deepEqual(await dumpAll(t), await dumpAll(s));
          await rejectsWith(t.restoreRows([{ shape: "kv", store: "vcard", owner: "juliet@example.com", value: "1", updated: T0 }]), "conflict");
          await rejectsWith(t.restoreRows([{ shape: "archive", store: "mam", owner: "juliet@example.com", seq: 1, id: "given-id", when: 1, with: "", value: "1" }]).then(() => t.restoreRows([{ shape: "archive", store: "mam", owner: "juliet@example.com", seq: 1, id: "given-id", when: 1, with: "", value: "1" }])), "conflict");
          await rejectsWith(t.restoreRows([{ shape: "map", store: "r", owner: "o", value: "1", updated: T0 } as unknown as SnapshotRow]), "bad-argument");
          await rejectsWith(t.restoreRows([{ shape: "kv", store: "r", owner: "o2", value: "{not json", updated: T0 }]), "bad-value");
          // a string value as stored (behind "="), kv and archive alike
          await t.restoreRows([
            { shape: "kv", store: "r", owner: "o3", value: "=<message>a string</message>", updated: T0 },
            { shape: "archive", store: "mam", owner: "o3", seq: 1, id: "s1", when: 1, with: "", value: "=two\nlines" },
          ]);
          assert.equal(await t.kv("r").get("o3"), "<message>a string</message>");
          assert.deepEqual((await t.archive("mam").query("o3")).items.map((i) => i.value), ["two\nlines"]);
        } finally {
          await t.close();
        }
      });

      it("is one point in time: writes during the iteration are not in it", async () => {
        await populate();
        const it = s.snapshot()[Symbol.asyncIterator]();
        const first = await it.next();
        assert.equal(first.done, false);
        await s.kv("vcard").set("late@example.com", { fn: "Late" });
        await s.archive("mam").append("juliet@example.com", { when: 9000, value: { body: "written-during" } });
        await s.map("roster").set("juliet@example.com", "romeo@example.com", undefined);
        const rest: SnapshotRow[] = [first.value as SnapshotRow];
        for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
        assert.equal(rest.length, 13);
        assert.ok(!rest.some((r) => r.owner === "late@example.com" || r.value.includes("written-during")));
        assert.ok(rest.some((r) => r.shape === "map" && r.owner === "juliet@example.com" && r.key === "romeo@example.com"));
      });

      it("an abandoned snapshot releases the backend", async () => {
        await populate();
        for await (const _ of s.snapshot()) break;
        await s.kv("vcard").set("after@example.com", 1);
        assert.equal((await drain(s.snapshot())).length, 14);
      });

      it("an empty backend snapshots to nothing", async () => {
        assert.deepEqual(await drain(s.snapshot()), []);
        assert.equal(await s.restoreRows([]), 0);
      });
    });

    describe("close", () => {
      it("rejects calls after close and closes twice quietly", async () => {
        const t = await make({ now: () => clock });
        await t.kv("k").set("o", 1);
        await t.close();
        await t.close();
        await rejectsWith(t.kv("k").get("o"), "closed");
        await rejectsWith(t.archive("a").append("o", { value: 1 }), "closed");
        await rejectsWith(t.countMentions("o"), "closed");
      });
    });
  });
}
