// Private XML storage (XEP-0049) and bookmarks: XEP-0402 (urn:xmpp:bookmarks:1) kept in step
// with legacy XEP-0048 bookmarks in private storage and in the PEP node "storage:bookmarks"
// (XEP-0402 §5.3 #compat and #compat-pep, XEP-0411), so old and new clients see one list.
import { defineModule, map, type IqRequest } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import type { Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { fromJson, toJson, type ElementJson } from "../../xml/element-json.js";
import type { MapStore } from "../../storage/types.js";
import type { PepService } from "../pep/types.js";
import { NS_BOOKMARKS2, NS_BOOKMARKS_LEGACY, itemsToLegacy, legacyToItems } from "./bookmarks.js";

export const NS_PRIVATE = "jabber:iq:private";

/** XEP-0049 §2.3: namespaces reserved by Jabber, refused with not-acceptable. */
export function reservedNamespace(ns: string): boolean {
  return ns === "" || ns.startsWith("jabber:") || ns.startsWith("http://jabber.org/") || ns === "vcard-temp";
}

/** Node configurations for bookmarks the server creates (XEP-0402 §3: private to the account). */
const BOOKMARKS2_CONFIG = { access_model: "whitelist", max_items: "max", send_last_published_item: "never" } as const;
const LEGACY_PEP_CONFIG = { access_model: "whitelist" } as const;

const keyOf = (el: Element) => `{${el.ns}}${el.name}`;

/**
 * The entries to store from imported <query xmlns='jabber:iq:private'/> elements, by key (a later
 * element of the same name and namespace wins); elements in reserved namespaces are skipped
 * (XEP-0049 §2.3), as a client's set would be refused.
 */
export function privateEntries(elements: Element[]): { entries: Record<string, ElementJson>; skipped: number } {
  const entries: Record<string, ElementJson> = {};
  let skipped = 0;
  for (const q of elements) {
    for (const c of q.elements()) {
      if (reservedNamespace(c.ns)) skipped++;
      else entries[keyOf(c)] = toJson(c);
    }
  }
  return { entries, skipped };
}

export const privateModule = defineModule({
  name: "private",
  specs: ["XEP-0049", "XEP-0048 (storage)", "XEP-0402", "XEP-0411"],
  after: ["pep"],
  disco: { accountFeatures: [NS_PRIVATE, `${NS_BOOKMARKS2}#compat`, `${NS_BOOKMARKS2}#compat-pep`] },
  stores: {
    private_xml: map({
      owner: "account",
      purpose: "Data your clients keep on the server for you alone, such as legacy bookmarks of group chats and client settings",
      retention: { kind: "lifetime" },
      export: true,
    }),
  },
  setup(ctx) {
    const store = ctx.stores.private_xml as MapStore<ElementJson>;
    const pep = ctx.use<PepService>("pep");

    // one bookmarks conversion at a time per account, so the two forms cannot cross
    const locks = new Map<string, Promise<unknown>>();
    const locked = <T>(owner: string, fn: () => Promise<T>): Promise<T> => {
      const run = (locks.get(owner) ?? Promise.resolve()).then(fn, fn);
      const tail = run.catch(() => undefined);
      locks.set(owner, tail);
      void tail.then(() => {
        if (locks.get(owner) === tail) locks.delete(owner);
      });
      return run;
    };

    const legacyKey = `{${NS_BOOKMARKS_LEGACY}}storage`;
    const loadLegacy = async (owner: Jid): Promise<Element | undefined> => {
      const j = await store.get(owner.bareString, legacyKey);
      return j ? fromJson(j) : undefined;
    };

    /** Legacy storage changed (private XML or the legacy PEP node): update the other two places. */
    const fromLegacy = async (owner: Jid, storage: Element, source: "private" | "pep"): Promise<void> => {
      if (!pep) return;
      if (source === "pep") await store.set(owner.bareString, legacyKey, toJson(storage));
      else await pep.publish(owner, NS_BOOKMARKS_LEGACY, { id: "current", payload: storage.clone() }, { config: LEGACY_PEP_CONFIG, by: ctx.name });
      const wanted = legacyToItems(storage);
      const existing = new Map((await pep.items(owner, NS_BOOKMARKS2)).map((i) => [i.id, i.payload.toString()]));
      for (const [room, item] of wanted) {
        if (existing.get(room) === item.toString()) continue;
        await pep.publish(owner, NS_BOOKMARKS2, { id: room, payload: item }, { config: BOOKMARKS2_CONFIG, by: ctx.name });
      }
      const gone = [...existing.keys()].filter((room) => !wanted.has(room));
      if (gone.length > 0) await pep.retract(owner, NS_BOOKMARKS2, gone, ctx.name);
    };

    /** XEP-0402 items changed: rebuild the legacy list in private XML and the legacy PEP node. */
    const fromBookmarks2 = async (owner: Jid): Promise<void> => {
      if (!pep) return;
      const storage = itemsToLegacy(await pep.items(owner, NS_BOOKMARKS2), await loadLegacy(owner));
      await store.set(owner.bareString, legacyKey, toJson(storage));
      await pep.publish(owner, NS_BOOKMARKS_LEGACY, { id: "current", payload: storage }, { config: LEGACY_PEP_CONFIG, by: ctx.name });
    };

    pep?.onPublish((e) => {
      if (e.by === ctx.name) return;
      if (e.node === NS_BOOKMARKS2) return locked(e.owner.bareString, () => fromBookmarks2(e.owner));
      if (e.node === NS_BOOKMARKS_LEGACY && e.item.payload.is("storage", NS_BOOKMARKS_LEGACY)) {
        return locked(e.owner.bareString, () => fromLegacy(e.owner, e.item.payload, "pep"));
      }
    });
    pep?.onRetract((e) => {
      if (e.by === ctx.name || e.node !== NS_BOOKMARKS2) return;
      return locked(e.owner.bareString, () => fromBookmarks2(e.owner));
    });

    // ---- export and import: XEP-0227 §4 "Private XML Storage", <query xmlns='jabber:iq:private'/> ----

    ctx.portable({
      elements: [{ name: "query", ns: NS_PRIVATE }],
      async export(account) {
        const all = await store.getAll(account.bareString);
        const children = [...all.values()].map((j) => fromJson(j));
        return { elements: children.length > 0 ? [x("query", { xmlns: NS_PRIVATE }, ...children)] : [] };
      },
      async import(account, elements) {
        const { entries, skipped } = privateEntries(elements);
        if (Object.keys(entries).length > 0) await store.setMany(account.bareString, entries);
        const legacy = entries[legacyKey];
        // legacy bookmarks reach XEP-0402 and the legacy PEP node, as a client's set would (XEP-0402 §5.3)
        if (legacy) await locked(account.bareString, () => fromLegacy(account, fromJson(legacy), "private"));
        return { imported: Object.keys(entries).length, notes: skipped > 0 ? [`${skipped} elements in reserved namespaces skipped`] : undefined };
      },
    });

    const check = (req: IqRequest): Element[] => {
      // XEP-0049 §2.3: only the user's own data
      if (!req.from.bare().equals(req.to)) throw new StanzaError("forbidden");
      const children = req.payload.elements();
      // XEP-0049 §2.3: at least one child, in a namespace of its own that is not reserved
      if (children.length === 0) throw new StanzaError("not-acceptable", "A child element is required");
      for (const c of children) if (reservedNamespace(c.ns)) throw new StanzaError("not-acceptable", "Reserved namespace");
      return children;
    };

    ctx.iq("account", "get", NS_PRIVATE, "query", async (req) => {
      const children = check(req);
      // XEP-0049 §2.3: a get asks for one namespace
      if (children.length !== 1) throw new StanzaError("not-acceptable", "Ask for one element");
      const asked = children[0]!;
      const stored = await store.get(req.to.bareString, keyOf(asked));
      return x("query", { xmlns: NS_PRIVATE }, stored ? fromJson(stored) : x(asked.name, { xmlns: asked.ns }));
    });

    ctx.iq("account", "set", NS_PRIVATE, "query", async (req) => {
      const children = check(req);
      const entries: Record<string, ElementJson> = {};
      for (const c of children) entries[keyOf(c)] = toJson(c);
      await store.setMany(req.to.bareString, entries);
      const legacy = children.find((c) => c.is("storage", NS_BOOKMARKS_LEGACY));
      if (legacy) await locked(req.to.bareString, () => fromLegacy(req.to, legacy, "private"));
    });
  },
});
