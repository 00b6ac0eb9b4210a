// The personal message archive (XEP-0313 Message Archive Management, urn:xmpp:mam:2 with the
// #extended features): archiving both directions of one-to-one messages with XEP-0359 stanza ids,
// queries with RSM paging (XEP-0059), archive metadata, and preferences (XEP-0441).
import { defineModule, archive, kv } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { errorSummary } from "../../core/session.js";
import type { StanzaEvent } from "../../core/events.js";
import type { Jid } from "../../jid/jid.js";
import type { ArchiveStore, KvStore } from "../../storage/types.js";
import { x, type Element } from "../../xml/element.js";
import type { RosterService } from "../roster/types.js";
import { NS_FORWARD, NS_MAM, NS_MAM_EXTENDED, addStanzaId, isArchivable, stripStanzaIds } from "./rules.js";
import { decide, parsePrefs, prefsElement, type ArchivePolicy, type ArchivePrefs } from "./prefs.js";
import { finElement, formatDateTime, parseQuery, queryForm, runQuery } from "./query.js";
import { storedReader, toStored, type ArchivedMessage } from "./stored.js";
import { mamPortable } from "./portable.js";

/** Accounts whose preferences are kept in memory; beyond this the oldest entry is dropped. */
const PREFS_CACHE_SIZE = 10_000;

/** Between blocking (50) and carbons (10) on message/bare and message/full. */
export const INCOMING_PRIORITY = 45;
/** Outgoing messages: after blocking (50), before carbons (10). */
export const OUTGOING_PRIORITY = 40;

/** The "mam" service: whether an account archives at all (other modules may skip their own copies). */
export interface MamService {
  /** False when the account's preferences archive nothing (default 'never', empty 'always' list). */
  archiveEnabledFor(account: Jid): Promise<boolean>;
  /**
   * The query machinery (XEP-0313 §4, XEP-0059 paging), for other archives such as a room's
   * (XEP-0313 §6.1.2): parse a <query/>, run it on a store, build <fin/> and the query form.
   */
  queries: {
    parse: typeof parseQuery;
    run: typeof runQuery;
    fin: typeof finElement;
    form: typeof queryForm;
    formatDateTime: typeof formatDateTime;
  };
}

export const mamModule = defineModule({
  name: "mam",
  specs: ["XEP-0313", "XEP-0441", "XEP-0359", "XEP-0059", "XEP-0334"],
  // XEP-0313 §7: advertised on the archive's address, the account's bare JID
  disco: { accountFeatures: [NS_MAM, NS_MAM_EXTENDED] },
  after: ["roster"],
  stores: (config) => ({
    archive: archive({
      owner: "account",
      purpose: `Your one-to-one messages, sent and received, so that all your devices can show your conversation history and end-to-end encryption (OMEMO) works on several devices. ${
        config.archive.defaultPolicy === "always"
          ? "Kept by default; you can switch it off, or keep only messages with your contacts, in your client's archiving settings"
          : config.archive.defaultPolicy === "roster"
            ? "By default only messages with your contacts are kept; you can change this in your client's archiving settings"
            : "Off by default; you can switch it on in your client's archiving settings"
      }`,
      retention: { kind: "duration", ms: config.archive.retentionDays * 86_400_000 },
      export: true,
    }),
    archive_prefs: kv({
      owner: "account",
      purpose: "Your choice of whose messages are kept in your message history",
      retention: { kind: "lifetime" },
      export: true,
    }),
  }),
  setup(ctx) {
    const core = ctx.core;
    const store = ctx.stores.archive as ArchiveStore<ArchivedMessage>;
    const prefsStore = ctx.stores.archive_prefs as KvStore<ArchivePrefs>;
    const defaultPolicy: ArchivePolicy = ctx.config.archive.defaultPolicy;
    const maxPageSize = ctx.config.archive.maxPageSize;

    // Preferences are read for every archived message; they change only through this module.
    const cache = new Map<string, ArchivePrefs>();
    const prefsOf = async (account: Jid): Promise<ArchivePrefs> => {
      const key = account.bareString;
      const hit = cache.get(key);
      if (hit) return hit;
      const p = (await prefsStore.get(key)) ?? { default: defaultPolicy, always: [], never: [] };
      // A <prefs/> set that landed while we read wins over what we read
      const newer = cache.get(key);
      if (newer) return newer;
      if (cache.size >= PREFS_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, p);
      return p;
    };
    const forget = ({ jid }: { jid: Jid }) => {
      cache.delete(jid.bareString);
    };
    ctx.on("account/deleting", forget);
    // PRIVACY: with archive.deleteConversationsWithAccount (default), a deleted account's
    // conversations leave the other local accounts' archives too: its messages are deleted with
    // it, as the privacy policy says, and no row names it afterwards.
    if (ctx.config.archive.deleteConversationsWithAccount) {
      ctx.on("account/deleting", async ({ jid }) => {
        for (const owner of await core.localAccounts()) {
          if (owner !== jid.bareString) await store.delete(owner, { with: jid.bareString });
        }
      });
    }
    ctx.on("account/deleted", forget);

    const inRoster = async (account: Jid, peer: Jid): Promise<boolean> => {
      // No roster module: nobody is in a roster, so "roster" archives only the 'always' list.
      const item = await ctx.use<RosterService>("roster")?.getItem(account.bare(), peer);
      return item !== undefined && item.hidden !== true;
    };
    const decided = (prefs: ArchivePrefs, account: Jid, peer: Jid): boolean | Promise<boolean> => {
      const d = decide(prefs, peer);
      return d === "roster" ? inRoster(account, peer.bare()) : d; // XEP-0441 §2.3.1: by bare JID
    };

    /**
     * Whether a message with `peer` goes into `account`'s archive: decided at once when the
     * preferences are cached and need no roster read (the usual case), so routing does not wait.
     */
    const wanted = (account: Jid, peer: Jid): boolean | Promise<boolean> => {
      const prefs = cache.get(account.bareString); // the account's address, with or without a resource
      if (prefs) return decided(prefs, account, peer);
      return prefsOf(account.bare()).then((p) => decided(p, account, peer));
    };

    // Rows queued in one turn share one write and one durability promise (the group commit):
    // each promise is caught once, and a stanza waits for it once.
    let lastDurable: Promise<void> | undefined;
    let lastCaught: Promise<void> = Promise.resolve();
    /**
     * Appends to `account`'s archive and returns the archive id, or undefined when the row cannot
     * be queued. The message is routed on at once; the row's write joins the stanza's `writes`, so
     * the sender's session acknowledges it (XEP-0198) only once the row is durable.
     */
    const append = (ev: StanzaEvent, account: Jid, peer: Jid, value: ArchivedMessage): string | undefined => {
      try {
        const { id, durable } = store.appendSoon(account.bareString, { when: Date.now(), with: peer.bareString, value });
        if (durable !== lastDurable) {
          lastDurable = durable;
          lastCaught = durable.catch((err: unknown) => {
            // The message went on: losing the history entry is better than losing the message.
            ctx.log.error({ err: errorSummary(err) }, "archiving failed");
          });
        }
        const writes = (ev.writes ??= []);
        if (writes[writes.length - 1] !== lastCaught) writes.push(lastCaught);
        return id;
      } catch (err) {
        ctx.log.error({ err: errorSummary(err), user: account.bareString }, "archiving failed");
        return undefined;
      }
    };

    // Incoming: archived for a local recipient after blocking (50: a rejected message is not
    // archived, XEP-0313 §6.1) and before carbons (10) and delivery or offline storage (-100), so
    // every delivered copy carries the stanza-id (XEP-0313 §3.5).
    const archiveIncoming = (ev: StanzaEvent, account: Jid, stripped: boolean, yes: boolean): false => {
      if (!yes) return false;
      const { stanza } = ev;
      // A local sender's archive serialized this very stanza a moment ago; unless stanza-ids
      // were stripped since, that text is the recipient's copy too (one serialization per message)
      const id = append(ev, account, ev.from, (stripped ? undefined : sentXml(stanza)) ?? toStored(stanza));
      if (id !== undefined) addStanzaId(stanza, account, id);
      return false;
    };
    const incoming = (ev: StanzaEvent): boolean | Promise<boolean> => {
      const { stanza } = ev;
      const account = ev.to.bare();
      const stripped = stripStanzaIds(stanza, account.bareString);
      if (!isArchivable(stanza)) return false;
      // An account with a session exists; otherwise storage says (only existing accounts have an archive)
      if (core.hasSessions(account)) {
        const w = wanted(account, ev.from);
        return typeof w === "boolean" ? archiveIncoming(ev, account, stripped, w) : w.then((yes) => archiveIncoming(ev, account, stripped, yes));
      }
      return core
        .accountExists(account)
        .then(async (exists) => exists && archiveIncoming(ev, account, stripped, await wanted(account, ev.from)));
    };
    ctx.on("message/bare", incoming, INCOMING_PRIORITY);
    ctx.on("message/full", incoming, INCOMING_PRIORITY);

    // The messages local senders' archives serialized last, and their text: the recipient's
    // archive takes the same text when the message arrives, usually in the same turn, after the
    // messages of a few other sessions at most (a miss only costs a serialization).
    const RECENT = 64;
    const recentStanzas: (Element | undefined)[] = new Array<Element | undefined>(RECENT).fill(undefined);
    const recentXml: string[] = new Array<string>(RECENT).fill("");
    let recentNext = 0;
    // PRIVACY: kept for the turn only, so no message lingers in memory for the next one
    let clearScheduled = false;
    const clearRecent = () => {
      clearScheduled = false;
      recentStanzas.fill(undefined);
      recentXml.fill("");
    };
    const sentXml = (stanza: Element): string | undefined => {
      for (let k = 1; k <= RECENT; k++) {
        const i = (recentNext - k + RECENT) % RECENT;
        if (recentStanzas[i] === stanza) return recentXml[i];
      }
      return undefined;
    };

    // Outgoing: a local user's message, archived in the sender's archive as it is routed.
    const archiveOutgoing = (ev: StanzaEvent, yes: boolean): false => {
      if (!yes) return false;
      const xml = toStored(ev.stanza);
      append(ev, ev.from, ev.to, xml);
      recentStanzas[recentNext] = ev.stanza;
      recentXml[recentNext] = xml;
      recentNext = (recentNext + 1) % RECENT;
      if (!clearScheduled) {
        clearScheduled = true;
        setImmediate(clearRecent);
      }
      return false;
    };
    ctx.on(
      "stanza/outgoing",
      (ev) => {
        if (ev.stanza.name !== "message" || ev.origin === undefined) return false;
        // A message to a server or service address is not a conversation with a person
        if (ev.to.local === "") return false;
        // The sender's address (full: its bareString is made once per session, not per message)
        const account = ev.from;
        // XEP-0313 §6.1.1: one copy per archive; a message to oneself is archived once, on arrival
        if (ev.to.bareString === account.bareString) return false;
        if (!isArchivable(ev.stanza)) return false;
        const w = wanted(account, ev.to);
        return typeof w === "boolean" ? archiveOutgoing(ev, w) : w.then((yes) => archiveOutgoing(ev, yes));
      },
      OUTGOING_PRIORITY,
    );

    // XEP-0313 §8.1: only the account itself reads its archive or preferences
    const own = (req: { from: Jid; to: Jid }): Jid => {
      if (!req.from.bare().equals(req.to)) throw new StanzaError("forbidden", "Only the owner may access this archive");
      return req.to;
    };

    // XEP-0313 §4: a query; results go out as messages, then the IQ result with <fin/>
    ctx.iq("account", "set", NS_MAM, "query", async (req) => {
      const account = own(req);
      const plan = parseQuery(req.payload, maxPageSize);
      const page = await runQuery(store, account.bareString, plan);
      const read = storedReader();
      const items = plan.flip ? [...page.items].reverse() : page.items; // XEP-0313 §4.3.4
      for (const item of items) {
        const original = read(item.value);
        // XEP-0313 §4.2: the original stanza, forwarded (XEP-0297) with its archiving time (XEP-0203)
        const msg = x(
          "message",
          { xmlns: NS.CLIENT, from: account.bareString, to: req.from.toString() },
          x(
            "result",
            { xmlns: NS_MAM, queryid: plan.queryid, id: item.id },
            x("forwarded", { xmlns: NS_FORWARD }, x("delay", { xmlns: NS.DELAY, stamp: formatDateTime(item.when) }), original ?? null),
          ),
        );
        core.deliverTo(req.from, msg);
      }
      return finElement(page);
    });

    // XEP-0313 §4.1.5: the fields a query form may carry
    ctx.iq("account", "get", NS_MAM, "query", (req) => {
      own(req);
      return queryForm();
    });

    // XEP-0313 §5: the first and last entries of the archive
    ctx.iq("account", "get", NS_MAM, "metadata", async (req) => {
      const owner = own(req).bareString;
      const [first, last] = await Promise.all([store.query(owner, { limit: 1 }), store.query(owner, { limit: 1, reverse: true })]);
      const a = first.items[0];
      const b = last.items[0];
      if (!a || !b) return x("metadata", { xmlns: NS_MAM }); // an empty archive has no bounds
      return x(
        "metadata",
        { xmlns: NS_MAM },
        x("start", { id: a.id, timestamp: formatDateTime(a.when) }),
        x("end", { id: b.id, timestamp: formatDateTime(b.when) }),
      );
    });

    // XEP-0441 §2.1: preferences
    ctx.iq("account", "get", NS_MAM, "prefs", async (req) => prefsElement(await prefsOf(own(req))));
    ctx.iq("account", "set", NS_MAM, "prefs", async (req) => {
      const account = own(req);
      const prefs = parsePrefs(req.payload);
      await prefsStore.set(account.bareString, prefs);
      cache.set(account.bareString, prefs); // takes effect with the next message
      return prefsElement(prefs);
    });

    const service: MamService = {
      async archiveEnabledFor(account) {
        const p = await prefsOf(account);
        return p.default !== "never" || p.always.length > 0;
      },
      queries: { parse: parseQuery, run: runQuery, fin: finElement, form: queryForm, formatDateTime },
    };
    ctx.provide("mam", service);
    // XEP-0227: the archive and preferences in the account's export and import
    ctx.portable(mamPortable(store, prefsStore, (account) => cache.delete(account.bareString)));
  },
});
