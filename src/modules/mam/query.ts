// Archive queries (XEP-0313 §4): the query form and RSM set (XEP-0059) parsed into a plan, the plan
// run against an archive store, and the form a client can fetch (§4.1.5).
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { tryParseJid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import type { ArchiveItem, ArchiveQuery, ArchiveStore } from "../../storage/types.js";
import { NS_MAM, NS_RSM } from "./rules.js";

/** A parsed query: form filters, RSM paging and the page size (already clamped). */
export interface QueryPlan {
  queryid: string | undefined;
  /** Bare JID string of the peer (XEP-0313 §4.1.1). */
  with: string | undefined;
  start: number | undefined;
  end: number | undefined;
  /** Extended filters (XEP-0313 §4.1.3): range cuts, not paging. */
  afterId: string | undefined;
  beforeId: string | undefined;
  ids: string[] | undefined;
  /** RSM anchors (XEP-0059 §2.2, §2.3); `rsmBefore: ""` asks for the last page (§2.5). */
  rsmAfter: string | undefined;
  rsmBefore: string | undefined;
  max: number;
  /** XEP-0313 §4.3.4: send the page newest first. */
  flip: boolean;
}

/** A page of results as the <fin/> reports it. */
export interface QueryPage<T> {
  /** Oldest first (flip-page only changes the order of transmission). */
  items: ArchiveItem<T>[];
  complete: boolean;
  /** Size of the whole result set, when known without reading it (XEP-0059 §2.6). */
  count: number | undefined;
  /** Position of the first item in the result set, when known. */
  index: number | undefined;
}

const FIELDS = new Set(["FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"]);

// XEP-0082 §3.2 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD
const DATETIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses a XEP-0082 DateTime to milliseconds; undefined when malformed. `round` says which way to
 * go with digits below the millisecond: a 'start' rounds up, an 'end' down, so neither admits an
 * item outside the bound.
 */
export function parseDateTime(s: string, round: "up" | "down" = "down"): number | undefined {
  const m = DATETIME.exec(s.trim());
  if (!m) return undefined;
  const frac = m[2] ?? "";
  const ms = Date.parse(m[1]! + frac.slice(0, 4).padEnd(frac === "" ? 0 : 4, "0") + m[3]!);
  if (!Number.isFinite(ms)) return undefined;
  // Date.parse accepts 2021-02-31; a round trip of the date part rejects it
  if (new Date(Date.parse(m[1]!.slice(0, 10) + "T00:00:00Z")).toISOString().slice(0, 10) !== m[1]!.slice(0, 10)) return undefined;
  const rest = frac.length > 4 ? frac.slice(4) : "";
  return round === "up" && /[1-9]/.test(rest) ? ms + 1 : ms;
}

/** XEP-0082 DateTime in UTC, with milliseconds. */
export function formatDateTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses a <query xmlns='urn:xmpp:mam:2'/>; throws bad-request or feature-not-implemented. */
export function parseQuery(query: Element, maxPageSize: number): QueryPlan {
  const plan: QueryPlan = {
    queryid: query.attrs.queryid,
    with: undefined,
    start: undefined,
    end: undefined,
    afterId: undefined,
    beforeId: undefined,
    ids: undefined,
    rsmAfter: undefined,
    rsmBefore: undefined,
    max: maxPageSize,
    flip: false,
  };
  // XEP-0313 §4: 'node' addresses a pubsub archive (XEP-0442), which an account does not have
  if (query.attrs.node !== undefined) throw new StanzaError("item-not-found", "No such node");
  const form = query.getChild("x", NS.DATA);
  if (form) {
    const type = form.attrs.type;
    if (type !== undefined && type !== "submit") throw new StanzaError("bad-request", "The form must be of type submit");
    for (const field of form.getChildren("field", NS.DATA)) {
      const name = field.attrs.var ?? "";
      const values = field.getChildren("value", NS.DATA).map((v) => v.text());
      const one = (): string | undefined => {
        if (values.length > 1) throw new StanzaError("bad-request", `Field ${name} takes one value`);
        const v = values[0]?.trim();
        return v === "" ? undefined : v; // an empty field filters nothing
      };
      // XEP-0313 §4.1.5: a field the server does not know is feature-not-implemented
      if (!FIELDS.has(name)) throw new StanzaError("feature-not-implemented", `Unknown field ${name}`);
      switch (name) {
        case "FORM_TYPE":
          // XEP-0313 §4.1: FORM_TYPE is urn:xmpp:mam:2
          if (one() !== NS_MAM) throw new StanzaError("bad-request", "FORM_TYPE must be urn:xmpp:mam:2");
          break;
        case "with": {
          const v = one();
          if (v === undefined) break;
          const j = tryParseJid(v);
          if (!j) throw new StanzaError("bad-request", "Invalid JID in with");
          // COMPAT: the archive keeps peers by bare JID, so a full JID matches every resource of
          // that peer (XEP-0313 §4.1.1 only requires this for bare JIDs)
          plan.with = j.bareString;
          break;
        }
        case "start":
        case "end": {
          const v = one();
          if (v === undefined) break;
          const ms = parseDateTime(v, name === "start" ? "up" : "down");
          if (ms === undefined) throw new StanzaError("bad-request", `Invalid timestamp in ${name}`); // XEP-0313 §4.1.2
          plan[name] = ms;
          break;
        }
        case "after-id":
          plan.afterId = one();
          break;
        case "before-id":
          plan.beforeId = one();
          break;
        case "ids": {
          const ids = [...new Set(values.map((v) => v.trim()).filter((v) => v !== ""))];
          if (ids.length > maxPageSize) throw new StanzaError("policy-violation", `At most ${maxPageSize} ids per query`);
          plan.ids = ids;
          break;
        }
      }
    }
  }
  const set = query.getChild("set", NS_RSM);
  if (set) {
    const max = set.getChild("max", NS_RSM);
    if (max) {
      const t = max.text().trim();
      if (!/^\d{1,9}$/.test(t)) throw new StanzaError("bad-request", "max must be a non-negative integer");
      plan.max = Math.min(Number(t), maxPageSize); // XEP-0313 §4.3.1: the server may limit a page
    }
    const after = set.getChild("after", NS_RSM);
    if (after) {
      const t = after.text().trim();
      if (t === "") throw new StanzaError("bad-request", "after must carry an id"); // XEP-0059 §2.2
      plan.rsmAfter = t;
    }
    const before = set.getChild("before", NS_RSM);
    if (before) plan.rsmBefore = before.text().trim(); // XEP-0059 §2.5: empty = the last page
    // XEP-0059 §2.6 paging by index is optional; answering a page other than the one asked for
    // would be wrong, so it is refused
    if (set.getChild("index", NS_RSM)) throw new StanzaError("feature-not-implemented", "Paging by index is not supported");
  }
  plan.flip = query.getChild("flip-page", NS_MAM) !== undefined;
  return plan;
}

/** Builds the store query for one cut of the result set. */
function storeQuery(plan: QueryPlan, extra: ArchiveQuery): ArchiveQuery {
  const q: ArchiveQuery = { ...extra };
  if (plan.with !== undefined) q.with = plan.with;
  if (plan.start !== undefined) q.start = plan.start;
  if (plan.end !== undefined) q.end = plan.end;
  if (plan.ids !== undefined) q.ids = plan.ids;
  return q;
}

/**
 * Runs a plan against an account's archive. Form ids (after-id, before-id, ids) and RSM anchors
 * that are not in the archive give item-not-found (XEP-0313 §4.1.3, §4.3.2). after-id and RSM
 * <after/> both cut the range from below (the later one wins), before-id and RSM <before/> from
 * above; only RSM <before/> pages backwards (XEP-0313 §9).
 */
export async function runQuery<T>(store: ArchiveStore<T>, owner: string, plan: QueryPlan): Promise<QueryPage<T>> {
  const known = [plan.afterId, plan.beforeId, plan.rsmAfter, plan.rsmBefore, ...(plan.ids ?? [])].filter(
    (id): id is string => id !== undefined && id !== "",
  );
  // One look-up checks every id the client named and gives their order in the archive.
  const pos = new Map<string, number>();
  const anchors = new Map<string, ArchiveItem<T>>();
  if (known.length > 0) {
    const found = await store.query(owner, { ids: [...new Set(known)] });
    found.items.forEach((it, i) => {
      pos.set(it.id, i);
      anchors.set(it.id, it);
    });
    for (const id of known) if (!pos.has(id)) throw new StanzaError("item-not-found", "No archived message with that id");
  }
  const later = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined ? a : pos.get(a)! >= pos.get(b)! ? a : b);
  const earlier = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined ? a : pos.get(a)! <= pos.get(b)! ? a : b);
  const lower = later(plan.afterId, plan.rsmAfter);
  const upper = earlier(plan.beforeId, plan.rsmBefore === "" ? undefined : plan.rsmBefore);
  const backward = plan.rsmBefore !== undefined;
  // The store's count covers its filters; after-id/before-id narrow the set beyond them.
  const countKnown = plan.afterId === undefined && plan.beforeId === undefined;

  if (backward || upper === undefined) {
    const q = storeQuery(plan, { limit: plan.max });
    if (lower !== undefined) q.after = lower;
    if (backward) q.before = upper ?? ""; // a 'before' at all pages from the end
    const r = await store.query(owner, q);
    const count = countKnown ? r.count : undefined;
    // XEP-0059 §2.6: the index is optional. It is given for a page from the start of the set (0),
    // not for one counted from its end: slixmpp 1.8 (and so Poezio) takes `first index + page
    // size == count` as the end of the set even when paging backwards, and would stop after the
    // newest page; Prosody gives no index at all.
    const index = r.items.length > 0 && !backward && lower === undefined ? 0 : undefined;
    return { items: r.items, complete: r.complete, count, index };
  }

  // Forward paging below a before-id. The store pages from the end whenever it is given a
  // 'before', so the upper cut is applied here: fetch one more than a page up to the anchor's
  // timestamp, then cut at the anchor by asking the store for the order of the fetched ids and
  // the anchor (items sharing its timestamp may fall on either side of it).
  const anchor = anchors.get(upper)!;
  const q = storeQuery(plan, { limit: plan.max + 1 });
  q.end = Math.min(q.end ?? anchor.when, anchor.when);
  if (lower !== undefined) q.after = lower;
  const r = await store.query(owner, q);
  let kept = r.items;
  if (kept.length > 0) {
    const order = await store.query(owner, { ids: [...kept.map((i) => i.id), upper] });
    const cut = order.items.findIndex((i) => i.id === upper);
    kept = kept.slice(0, cut);
  }
  const items = kept.slice(0, plan.max);
  const complete = kept.length <= plan.max && (kept.length < r.items.length || r.complete);
  return { items, complete, count: undefined, index: items.length > 0 && lower === undefined ? 0 : undefined };
}

/** XEP-0313 §4.3: the <fin/> closing a query, with its RSM set (XEP-0059 §2.6). */
export function finElement(page: QueryPage<unknown>): Element {
  const first = page.items[0];
  const last = page.items[page.items.length - 1];
  return x(
    "fin",
    { xmlns: NS_MAM, complete: page.complete ? "true" : "false" },
    x(
      "set",
      { xmlns: NS_RSM },
      first ? x("first", { index: page.index === undefined ? undefined : String(page.index) }, first.id) : null,
      last ? x("last", null, last.id) : null,
      page.count !== undefined ? x("count", null, String(page.count)) : null,
    ),
  );
}

/** XEP-0313 §4.1.5: the fields a query form may carry. */
export function queryForm(): Element {
  return x(
    "query",
    { xmlns: NS_MAM },
    x(
      "x",
      { xmlns: NS.DATA, type: "form" },
      x("field", { type: "hidden", var: "FORM_TYPE" }, x("value", null, NS_MAM)),
      x("field", { type: "jid-single", var: "with" }),
      x("field", { type: "text-single", var: "start" }),
      x("field", { type: "text-single", var: "end" }),
      x("field", { type: "text-single", var: "before-id" }),
      x("field", { type: "text-single", var: "after-id" }),
      x(
        "field",
        { type: "list-multi", var: "ids" },
        // XEP-0313 §4.1.5: the list is open, never enumerated (XEP-0122)
        x("validate", { xmlns: "http://jabber.org/protocol/xdata-validate", datatype: "xs:string" }, x("open")),
      ),
    ),
  );
}
