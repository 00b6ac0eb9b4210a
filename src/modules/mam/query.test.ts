// Tests of archive queries (XEP-0313 §4, XEP-0059): parsing, XEP-0082 times, and paging checked against a naive model.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x, type Element } from "../../xml/element.js";
import { NS } from "../../core/namespaces.js";
import { StanzaError } from "../../core/errors.js";
import { createMemoryBackend } from "../../storage/memory.js";
import type { ArchiveItem } from "../../storage/types.js";
import { finElement, formatDateTime, parseDateTime, parseQuery, runQuery, type QueryPlan } from "./query.js";
import { NS_MAM, NS_RSM } from "./rules.js";

const field = (v: string, ...values: string[]) => x("field", { var: v }, ...values.map((s) => x("value", null, s)));
const query = (fields: Element[], set?: Element, extra: Element[] = []) =>
  x("query", { xmlns: NS_MAM, queryid: "q1" }, x("x", { xmlns: NS.DATA, type: "submit" }, field("FORM_TYPE", NS_MAM), ...fields), set ?? null, ...extra);
const rsm = (parts: Record<string, string>) => x("set", { xmlns: NS_RSM }, ...Object.entries(parts).map(([k, v]) => x(k, null, v)));

const condition = async (fn: () => unknown) => {
  try {
    await fn();
  } catch (e) {
    return e instanceof StanzaError ? e.condition : String(e);
  }
  return "ok";
};

describe("XEP-0082 timestamps", () => {
  it("parses the DateTime profile", () => {
    assert.equal(parseDateTime("2010-06-07T00:00:00Z"), Date.UTC(2010, 5, 7));
    assert.equal(parseDateTime("2010-06-07T02:00:00+02:00"), Date.UTC(2010, 5, 7));
    assert.equal(parseDateTime("2010-06-07T00:00:00.25Z"), Date.UTC(2010, 5, 7) + 250);
    assert.equal(parseDateTime("2010-06-07T00:00:00.0001Z", "down"), Date.UTC(2010, 5, 7));
    assert.equal(parseDateTime("2010-06-07T00:00:00.0001Z", "up"), Date.UTC(2010, 5, 7) + 1);
    for (const bad of ["2010-06-07", "2010-02-31T00:00:00Z", "2010-06-07T00:00:00", "yesterday", "2010-06-07T25:00:00Z"]) {
      assert.equal(parseDateTime(bad), undefined, bad);
    }
    assert.equal(parseDateTime(formatDateTime(1_600_000_000_123)), 1_600_000_000_123);
  });
});

describe("parseQuery (XEP-0313 §4.1, XEP-0059)", () => {
  it("reads every field, RSM and flip-page", () => {
    const p = parseQuery(
      query(
        [field("with", "Juliet@Capulet.lit/balcony"), field("start", "2010-06-07T00:00:00Z"), field("end", "2010-07-07T13:23:54Z"), field("after-id", "a"), field("before-id", "b"), field("ids", "i1", "i2", "i1")],
        rsm({ max: "10", after: "c", before: "d" }),
        [x("flip-page", { xmlns: NS_MAM })],
      ),
      50,
    );
    assert.deepEqual(p, {
      queryid: "q1",
      with: "juliet@capulet.lit",
      start: Date.UTC(2010, 5, 7),
      end: Date.UTC(2010, 6, 7, 13, 23, 54),
      afterId: "a",
      beforeId: "b",
      ids: ["i1", "i2"],
      rsmAfter: "c",
      rsmBefore: "d",
      max: 10,
      flip: true,
    });
  });
  it("defaults and clamps the page size, and reads an empty <before/> as the last page", () => {
    const p = parseQuery(x("query", { xmlns: NS_MAM }, x("set", { xmlns: NS_RSM }, x("max", null, "100000"), x("before"))), 50);
    assert.equal(p.max, 50);
    assert.equal(p.rsmBefore, "");
    assert.equal(parseQuery(x("query", { xmlns: NS_MAM }), 50).max, 50);
  });
  it("refuses malformed forms and unknown fields", async () => {
    assert.equal(await condition(() => parseQuery(query([field("start", "last tuesday")]), 50)), "bad-request");
    assert.equal(await condition(() => parseQuery(query([field("with", "a@@b")]), 50)), "bad-request");
    assert.equal(await condition(() => parseQuery(query([field("with", "a@b", "c@d")]), 50)), "bad-request");
    assert.equal(await condition(() => parseQuery(query([field("include-groupchat", "true")]), 50)), "feature-not-implemented");
    assert.equal(await condition(() => parseQuery(query([], rsm({ max: "-1" })), 50)), "bad-request");
    assert.equal(await condition(() => parseQuery(query([], rsm({ max: "ten" })), 50)), "bad-request");
    const wrongType = x("query", { xmlns: NS_MAM }, x("x", { xmlns: NS.DATA, type: "submit" }, field("FORM_TYPE", "urn:xmpp:mam:1")));
    assert.equal(await condition(() => parseQuery(wrongType, 50)), "bad-request");
  });
});

// A reference model of the result set, computed naively over the whole archive.
function reference(all: ArchiveItem[], p: QueryPlan) {
  const pos = new Map(all.map((it, i) => [it.id, i]));
  const named = [p.afterId, p.beforeId, p.rsmAfter, p.rsmBefore, ...(p.ids ?? [])].filter((i) => i !== undefined && i !== "") as string[];
  if (named.some((id) => !pos.has(id))) return "item-not-found";
  const filtered = all.filter(
    (it) =>
      (p.with === undefined || it.with === p.with) &&
      (p.start === undefined || it.when >= p.start) &&
      (p.end === undefined || it.when <= p.end) &&
      (p.ids === undefined || p.ids.includes(it.id)),
  );
  const lo = Math.max(...[p.afterId, p.rsmAfter].map((id) => (id === undefined ? -1 : pos.get(id)!)));
  const hi = Math.min(...[p.beforeId, p.rsmBefore || undefined].map((id) => (id === undefined ? Infinity : pos.get(id)!)));
  const range = filtered.filter((it) => pos.get(it.id)! > lo && pos.get(it.id)! < hi);
  const backward = p.rsmBefore !== undefined;
  const page = backward ? range.slice(Math.max(0, range.length - p.max)) : range.slice(0, p.max);
  return {
    ids: page.map((i) => i.id),
    complete: range.length <= p.max,
    count: p.afterId === undefined && p.beforeId === undefined ? filtered.length : undefined,
  };
}

describe("runQuery against an archive", () => {
  const owner = "juliet@capulet.lit";
  const peers = ["romeo@montague.lit", "nurse@capulet.lit", "tybalt@capulet.lit"];
  // Deterministic pseudo-random numbers (a test must fail the same way twice).
  let seed = 42;
  const rnd = (n: number) => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };

  it("agrees with a naive model for every combination of filters and paging", async () => {
    const storage = createMemoryBackend();
    const store = storage.archive("archive");
    // 60 items over 20 distinct timestamps: many share a millisecond, so cuts must follow arrival order
    for (let i = 0; i < 60; i++) {
      await store.append(owner, { when: 1000 + Math.floor(i / 3) * 10, with: peers[rnd(3)]!, value: i });
    }
    const all = (await store.query(owner)).items;
    const ids = all.map((i) => i.id);
    const pick = () => ids[rnd(ids.length)]!;
    let checked = 0;
    for (let round = 0; round < 600; round++) {
      const plan: QueryPlan = {
        queryid: undefined,
        with: rnd(3) === 0 ? peers[rnd(3)] : undefined,
        start: rnd(4) === 0 ? 1000 + rnd(200) : undefined,
        end: rnd(4) === 0 ? 1000 + rnd(200) : undefined,
        afterId: rnd(4) === 0 ? pick() : undefined,
        beforeId: rnd(4) === 0 ? pick() : undefined,
        ids: rnd(6) === 0 ? [pick(), pick(), pick(), pick(), pick()] : undefined,
        rsmAfter: rnd(4) === 0 ? pick() : undefined,
        rsmBefore: rnd(4) === 0 ? (rnd(2) ? "" : pick()) : undefined,
        max: rnd(12),
        flip: false,
      };
      if (rnd(20) === 0) plan.rsmAfter = "no-such-id";
      const want = reference(all, plan);
      if (want === "item-not-found") {
        assert.equal(await condition(() => runQuery(store, owner, plan)), "item-not-found");
        continue;
      }
      const got = await runQuery(store, owner, plan);
      assert.deepEqual({ ids: got.items.map((i) => i.id), complete: got.complete, count: got.count }, want, JSON.stringify(plan));
      checked++;
    }
    assert.ok(checked > 300);
  });

  it("gives fin, with the index of a first page only (XEP-0059 §2.6, XEP-0313 §4.3)", async () => {
    const storage = createMemoryBackend();
    const store = storage.archive("archive");
    for (let i = 0; i < 5; i++) await store.append(owner, { when: 1000 + i, with: peers[0]!, value: i });
    const base: QueryPlan = { queryid: undefined, with: undefined, start: undefined, end: undefined, afterId: undefined, beforeId: undefined, ids: undefined, rsmAfter: undefined, rsmBefore: undefined, max: 2, flip: false };
    const first = await runQuery(store, owner, base);
    assert.equal(first.index, 0);
    assert.equal(finElement(first).getChild("set", NS_RSM)!.getChild("first")?.attrs.index, "0");
    // No index on a page counted from the end (slixmpp would take it for the end of the set)
    const last = await runQuery(store, owner, { ...base, rsmBefore: "" });
    assert.equal(last.index, undefined);
    const fin = finElement(last);
    assert.equal(fin.attrs.complete, "false");
    const set = fin.getChild("set", NS_RSM)!;
    assert.equal(set.getChild("first")?.attrs.index, undefined);
    assert.equal(set.getChildText("first"), last.items[0]!.id);
    assert.equal(set.getChildText("last"), last.items[1]!.id);
    assert.equal(set.getChildText("count"), "5");
    const empty = finElement(await runQuery(store, owner, { ...base, with: "nobody@x" }));
    assert.equal(empty.attrs.complete, "true");
    assert.deepEqual(empty.getChild("set", NS_RSM)!.elements().map((e) => e.name), ["count"]);
  });
});
