// Simple communications blocking (XEP-0191): the blocklist IQs with pushes, the blocking of stanzas
// between a user and blocked JIDs in both directions (§3.5, §3.6), and the presence a block or an
// unblock implies (§3.3, §3.4). JID matching follows XEP-0191 "JID Matching" (as XEP-0016).
import { randomBytes } from "node:crypto";
import { defineModule, kv, REPLIED, type IqRequest } from "../../core/module.js";
import { StanzaError, errorReply } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import type { StanzaEvent } from "../../core/events.js";
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import type { RosterService } from "../roster/types.js";
import { addressed, availableSessions, unavailableFrom } from "../presence/broadcast.js";
import { NS_PRIVACY, blockedFromImport, blocklistElement, mergeBlocklist } from "./portable.js";

export const NS_BLOCKING = "urn:xmpp:blocking";
export const NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors";

/** Most JIDs one account may block (bounds storage and the per-account cache). */
export const MAX_BLOCKED = 2000;
/** Accounts whose blocklist is kept in memory at once (least recently used ones are dropped). */
const CACHE_SIZE = 10_000;

/** The "blocking" service other modules use (offline delivery skips blocked senders). */
export interface BlockingService {
  /** True when `owner` has blocked `other` (XEP-0191 JID matching). */
  isBlocked(owner: Jid, other: Jid): Promise<boolean>;
  /** The owner's blocked JIDs, in the order they were blocked. */
  list(owner: Jid): Promise<string[]>;
}

/**
 * Whether a JID is matched by a blocklist (XEP-0191 "JID Matching", as XEP-0016): an item
 * user@domain/resource or domain/resource matches that address only; user@domain any of its
 * resources; a domain the domain itself, every address at it and every address at a subdomain.
 */
export function matchesBlocklist(items: ReadonlySet<string>, j: Jid): boolean {
  if (items.size === 0) return false;
  if (items.has(j.toString())) return true;
  if (j.local !== "" && j.resource !== "" && items.has(j.bareString)) return true;
  for (let d = j.domain; ; ) {
    if (items.has(d)) return true;
    const dot = d.indexOf(".");
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
}

/**
 * The JIDs of a <block/> or <unblock/> request, normalized (RFC 7622). Throws bad-request for an
 * item without a jid, jid-malformed for one that does not parse (RFC 6120 §8.3.3.8).
 */
export function parseItems(payload: Element): Jid[] {
  const out: Jid[] = [];
  for (const item of payload.getChildren("item", NS_BLOCKING)) {
    const raw = item.attrs.jid;
    if (raw === undefined) throw new StanzaError("bad-request", "An item needs a jid");
    const j = tryParseJid(raw);
    if (!j) throw new StanzaError("jid-malformed");
    out.push(j);
  }
  return out;
}

/**
 * Stanzas between an account and its own server, or the account itself, are never blocked: a user
 * who blocks their own domain must still reach the server (to unblock it, for one).
 */
function exempt(owner: Jid, other: Jid): boolean {
  if (other.local === "") return other.resource === "" && other.domain === owner.domain;
  return other.local === owner.local && other.domain === owner.domain;
}

interface Entry {
  list: string[];
  set: Set<string>;
}

const entryOf = (list: string[]): Entry => ({ list, set: new Set(list) });

export const blockingModule = defineModule({
  name: "blocking",
  specs: ["XEP-0191"],
  after: ["roster", "message"],
  disco: { features: [NS_BLOCKING], accountFeatures: [NS_BLOCKING] },
  stores: {
    blocklist: kv({
      owner: "account",
      purpose: "The addresses you blocked, so that nothing from them reaches you and nothing of yours reaches them",
      retention: { kind: "lifetime" },
      export: true,
    }),
  },
  setup(ctx) {
    const core = ctx.core;
    const store = ctx.stores.blocklist;
    const roster = ctx.use<RosterService>("roster");

    // ---- the per-account cache (the routing hooks below run for every stanza) ----

    const cache = new Map<string, Entry>();
    const loading = new Map<string, Promise<Entry>>();
    const remember = (owner: string, e: Entry): void => {
      cache.delete(owner);
      cache.set(owner, e);
      if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    };
    const entry = (owner: string): Promise<Entry> | Entry => {
      const hit = cache.get(owner);
      if (hit) {
        // least recently used order: a hit moves to the end
        cache.delete(owner);
        cache.set(owner, hit);
        return hit;
      }
      let p = loading.get(owner);
      if (!p) {
        p = (async () => {
          try {
            const v = await store.get(owner);
            const e = entryOf(Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);
            // a write that happened meanwhile already put the newer list in place
            if (!cache.has(owner)) remember(owner, e);
            return cache.get(owner) ?? e;
          } finally {
            loading.delete(owner);
          }
        })();
        loading.set(owner, p);
      }
      return p;
    };
    const blockedBy = async (owner: Jid, other: Jid): Promise<boolean> => {
      if (exempt(owner, other)) return false;
      const e = await entry(owner.bareString);
      return matchesBlocklist(e.set, other);
    };

    // Changes of one account's list are serialized (read-modify-write of the stored list).
    const locks = new Map<string, Promise<unknown>>();
    const locked = <T>(owner: string, fn: () => Promise<T>): Promise<T> => {
      const run = (locks.get(owner) ?? Promise.resolve()).then(fn, fn);
      const tail = run.catch(() => {});
      locks.set(owner, tail);
      void tail.then(() => {
        if (locks.get(owner) === tail) locks.delete(owner);
      });
      return run;
    };

    /** Stanzas this module sends on the user's behalf that must pass its own outbound check. */
    const ownStanzas = new WeakSet<Element>();

    // ---- IQs (XEP-0191 §3.2–§3.4) ----

    const checkOwner = (from: Jid, to: Jid): void => {
      if (!from.bare().equals(to)) throw new StanzaError("forbidden", "Only the account itself may use its blocklist");
    };

    const itemsOf = (jids: Iterable<string>): Element[] => [...jids].map((j) => x("item", { jid: j }));

    /** XEP-0191 §3.3/§3.4: a push to every resource that asked for the blocklist. */
    const push = (owner: Jid, payload: Element): void => {
      for (const s of core.sessionsOf(owner)) {
        if (s.data.get(ctx.name) !== true || !s.jid) continue;
        const iq = x("iq", { xmlns: NS.CLIENT, type: "set", id: "push-" + randomBytes(6).toString("base64url"), from: owner.toString(), to: s.jid.toString() }, payload.clone());
        core.deliver(s, iq);
      }
    };

    /** The result of a set, sent before the pushes (as XEP-0191 §3.3 shows them). */
    const reply = (stanza: Element, from: Jid): void => {
      core.deliverTo(from, x("iq", { xmlns: NS.CLIENT, type: "result", id: stanza.attrs.id, to: from.toString() }));
    };

    ctx.iq("account", "get", NS_BLOCKING, "blocklist", async (req) => {
      checkOwner(req.from, req.to);
      // XEP-0191 §3.2: a resource that retrieved the list gets pushes
      if (req.origin) req.origin.data.set(ctx.name, true);
      const e = await entry(req.to.bareString);
      return x("blocklist", { xmlns: NS_BLOCKING }, ...itemsOf(e.list));
    });

    /**
     * One list change (XEP-0191 §3.3 block, §3.4 unblock): the new list is computed and stored
     * under the account's lock, then the result, the pushes and the presence consequences follow.
     */
    const change = async (
      req: IqRequest,
      name: "block" | "unblock",
      jids: Jid[],
      compute: (current: string[]) => string[],
    ): Promise<typeof REPLIED> => {
      const owner = req.to;
      const { before, after } = await locked(owner.bareString, async () => {
        const cur = await entry(owner.bareString);
        const list = compute(cur.list);
        if (list.length !== cur.list.length) await store.set(owner.bareString, list.length ? list : undefined);
        const next = entryOf(list);
        remember(owner.bareString, next);
        return { before: cur.set, after: next.set };
      });
      reply(req.stanza, req.from);
      push(owner, x(name, { xmlns: NS_BLOCKING }, ...itemsOf(jids.map((j) => j.toString()))));
      await presenceOnChange(owner, before, after, name === "block" ? "unavailable" : "available");
      return REPLIED;
    };

    ctx.iq("account", "set", NS_BLOCKING, "block", async (req): Promise<typeof REPLIED> => {
      checkOwner(req.from, req.to);
      const jids = parseItems(req.payload);
      // XEP-0191 §3.3: a block without items is a bad request
      if (jids.length === 0) throw new StanzaError("bad-request", "Nothing to block");
      return change(req, "block", jids, (current) => {
        const list = [...current];
        for (const j of jids) if (!list.includes(j.toString())) list.push(j.toString());
        if (list.length > MAX_BLOCKED) throw new StanzaError("resource-constraint", `At most ${MAX_BLOCKED} addresses can be blocked`);
        return list;
      });
    });

    // PRIVACY: a deleted account leaves no trace in other accounts' blocklists (the issue 7
    // privacy contract); a new account with the same name then starts unblocked.
    ctx.on("account/deleting", async ({ jid }) => {
      const gone = jid.bareString;
      for (const owner of await store.owners()) {
        if (owner === gone) continue;
        const v = await store.get(owner);
        if (!Array.isArray(v)) continue;
        const kept = v.filter((j) => typeof j === "string" && j !== gone && !j.startsWith(gone + "/"));
        if (kept.length === v.length) continue;
        await store.set(owner, kept.length > 0 ? kept : undefined);
        cache.delete(owner);
      }
    });

    ctx.iq("account", "set", NS_BLOCKING, "unblock", async (req): Promise<typeof REPLIED> => {
      checkOwner(req.from, req.to);
      const jids = parseItems(req.payload);
      // XEP-0191 §3.4: an unblock without items unblocks everyone
      const drop = new Set(jids.map((j) => j.toString()));
      return change(req, "unblock", jids, (current) => (jids.length === 0 ? [] : current.filter((j) => !drop.has(j))));
    });

    /**
     * XEP-0191 §3.3: on block, contacts allowed to see the user's presence (RFC 6121 §4.2.2,
     * subscription from/both) get unavailable presence from each available resource; §3.4: on
     * unblock, they get the current presence again, and the user's resources probe the contacts
     * they are subscribed to, so they learn the presence that was held back meanwhile (§4.3.1).
     */
    const presenceOnChange = async (owner: Jid, before: ReadonlySet<string>, after: ReadonlySet<string>, kind: "available" | "unavailable"): Promise<void> => {
      if (!roster) return;
      const resources = availableSessions(core, owner);
      if (resources.length === 0) return;
      // contacts whose state changed: blocked now and not before, or the other way round
      const changed = (j: Jid): boolean => matchesBlocklist(before, j) !== matchesBlocklist(after, j);
      const items = kind === "unavailable" ? [...after].filter((i) => !before.has(i)) : [...before].filter((i) => !after.has(i));
      const targets = new Set<string>();
      for (const contact of await roster.subscribers(owner)) {
        const c = tryParseJid(contact);
        if (c && changed(c)) targets.add(contact);
      }
      // a blocked full JID concerns that resource of a subscriber only
      for (const i of items) {
        const j = tryParseJid(i);
        if (j && j.local !== "" && j.resource !== "" && changed(j) && !targets.has(j.bareString) && (await roster.isSubscribedFrom(owner, j.bare()))) targets.add(i);
      }
      for (const target of targets) {
        for (const s of resources) {
          if (!s.jid || !s.presence) continue;
          const p = kind === "unavailable" ? unavailableFrom(s.jid, target) : addressed(s.presence, target);
          ownStanzas.add(p);
          await core.route(p);
        }
      }
      if (kind === "available") {
        for (const contact of await roster.subscriptions(owner)) {
          const c = tryParseJid(contact);
          if (!c || !changed(c)) continue;
          for (const s of resources) {
            if (s.jid) await core.route(x("presence", { xmlns: NS.CLIENT, type: "probe", from: s.jid.toString(), to: contact }));
          }
        }
      }
    };

    // ---- stanzas to the user from blocked JIDs (XEP-0191 §3.5) ----

    const inbound = async (ev: StanzaEvent): Promise<boolean> => {
      const owner = ev.to.bare();
      const from = ev.from;
      // a stanza the server sends for a local user (presence broadcasts, probe answers) to a JID
      // that user blocked: dropped, as the client's own stanzas are (§3.6)
      if (!ev.origin && from.local !== "" && core.isLocalHost(from.domain) && !ownStanzas.has(ev.stanza) && (await blockedBy(from.bare(), ev.to))) {
        return true;
      }
      if (!(await blockedBy(owner, from))) return false;
      const { stanza } = ev;
      // presence (notifications, subscriptions, probes): no answer at all, so the user appears
      // offline; messages: service-unavailable; IQ get/set: service-unavailable, results and
      // errors dropped (core.bounce never answers errors or results)
      if (stanza.name !== "presence") core.bounce(ev, new StanzaError("service-unavailable"));
      return true;
    };
    for (const ev of ["message/bare", "message/full", "presence/bare", "presence/full", "iq/bare", "iq/full"] as const) ctx.on(ev, inbound, 50);

    // ---- stanzas from the user to blocked JIDs (XEP-0191 §3.6) ----

    ctx.on(
      "stanza/outgoing",
      async (ev) => {
        if (!ev.origin) return false;
        if (!(await blockedBy(ev.from.bare(), ev.to))) return false;
        const { stanza } = ev;
        const type = stanza.attrs.type;
        // never an error in answer to an error or an IQ result (RFC 6120 §8.3.1)
        if (type === "error" || (stanza.name === "iq" && type === "result")) return true;
        const err = new StanzaError("not-acceptable", undefined, { type: "cancel", app: x("blocked", { xmlns: NS_BLOCKING_ERRORS }) });
        core.deliver(ev.origin, errorReply(stanza, err));
        return true;
      },
      50,
    );

    // ---- lifecycle ----

    ctx.on("account/deleted", ({ jid }) => {
      cache.delete(jid.bareString);
    });

    // XEP-0227: the blocklist in the account's export and import (ejabberd exports privacy lists)
    ctx.portable({
      elements: [
        { name: "blocklist", ns: NS_BLOCKING },
        { name: "query", ns: NS_PRIVACY },
      ],
      export: async (account) => {
        const list = (await entry(account.bareString)).list;
        return { elements: list.length > 0 ? [blocklistElement(NS_BLOCKING, list)] : [] };
      },
      import: (account, elements) => {
        const owner = account.bareString;
        const { jids, notes } = blockedFromImport(elements);
        return locked(owner, async () => {
          const stored = await store.get(owner);
          const { list, result } = mergeBlocklist(Array.isArray(stored) ? (stored as string[]) : [], jids, MAX_BLOCKED);
          await store.set(owner, list);
          cache.delete(owner);
          return { imported: result.imported, notes: [...notes, ...(result.notes ?? [])] };
        });
      },
    });

    ctx.provide<BlockingService>("blocking", {
      isBlocked: (owner, other) => blockedBy(owner.bare(), other),
      list: async (owner) => [...(await entry(owner.bareString)).list],
    });
  },
});
