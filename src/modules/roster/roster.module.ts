// Roster management (RFC 6121 §2) with roster versioning (RFC 6121 §2.6, XEP-0237): roster get,
// set and remove, pushes, the `roster` service, and cleaning contacts' rosters when an account goes.
import { defineModule, kv, map } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { Jid, tryParseJid } from "../../jid/jid.js";
import { x } from "../../xml/element.js";
import { NS_ROSTER, NS_ROSTER_VER, itemElement, parseRosterSet } from "./items.js";
import { RosterStore, type RosterVersion } from "./roster-service.js";
import type { RosterItem, RosterService } from "./types.js";
import { rosterPortable } from "./portable.js";
import type { KvStore, MapStore } from "../../storage/types.js";

export const rosterModule = defineModule({
  name: "roster",
  specs: ["RFC 6121 §2", "XEP-0237"],
  stores: {
    roster: map({
      owner: "account",
      purpose:
        "Your contact list: each contact's address, the name and groups you gave them, whether you share presence with each other, and subscription requests waiting for your answer",
      retention: { kind: "lifetime" },
      export: true,
    }),
    roster_version: kv({
      owner: "account",
      purpose: "A counter that changes whenever your contact list changes, so your apps only download it again when needed",
      retention: { kind: "lifetime" },
      export: true,
    }),
  },
  setup(ctx) {
    const core = ctx.core;
    const roster = new RosterStore(
      ctx.stores.roster as MapStore<RosterItem>,
      ctx.stores.roster_version as KvStore<RosterVersion>,
      core,
    );
    const service: RosterService = roster;
    ctx.provide<RosterService>("roster", service);
    // XEP-0227: the roster in the account's export and import
    ctx.portable(rosterPortable(service));

    // RFC 6121 §2.6.1 / XEP-0237 §3: roster versioning is announced as a stream feature
    ctx.streamFeature("post-auth", () => x("ver", { xmlns: NS_ROSTER_VER }));

    // RFC 6121 §2.1.5 / §2.3.3: only the account itself may read or change its roster
    const checkOwner = (from: Jid, to: Jid): void => {
      if (!from.bare().equals(to)) throw new StanzaError("forbidden", "Only the account itself may use its roster");
    };

    // RFC 6121 §2.2 roster get, §2.6.3 with versioning
    ctx.iq("account", "get", NS_ROSTER, "query", async (req) => {
      checkOwner(req.from, req.to);
      if (req.origin) req.origin.interested = true; // RFC 6121 §2.2: an "interested resource"
      const ver = await roster.version(req.to);
      const clientVer = req.payload.attrs.ver;
      // RFC 6121 §2.6.3: the client's version is current: an empty result, changes come as pushes
      if (clientVer !== undefined && clientVer === ver) return undefined;
      const query = x("query", { xmlns: NS_ROSTER, ver: clientVer !== undefined ? ver : undefined });
      const items = await roster.get(req.to);
      for (const [contact, item] of [...items].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        query.append(itemElement(contact, item));
      }
      return query;
    });

    // RFC 6121 §2.3 roster set, §2.5 roster delete
    ctx.iq("account", "set", NS_ROSTER, "query", async (req) => {
      checkOwner(req.from, req.to);
      const owner = req.to;
      const set = parseRosterSet(req.payload, owner);
      const contact = set.jid.bareString;
      if (set.remove) {
        // RFC 6121 §2.5.3: removing an item that is not in the roster is item-not-found
        const existing = await roster.getItem(owner, contact);
        if (!existing || existing.hidden) throw new StanzaError("item-not-found");
        // a hidden row (a pending request) is left alone: the user answers it with presence
        const change = await roster.update(owner, contact, (cur) => (cur && !cur.hidden ? undefined : cur));
        if (change.before && !change.before.hidden) await cancelSubscriptions(owner, set.jid, change.before);
        return undefined;
      }
      // RFC 6121 §2.3.2: add or update the name and groups; subscription state stays the server's
      await roster.update(owner, contact, (cur) => {
        const next: RosterItem = cur ?? { subscription: "none", groups: [] };
        delete next.hidden;
        if (set.name !== undefined) next.name = set.name;
        else delete next.name;
        next.groups = set.groups;
        return next;
      });
      return undefined;
    });

    /**
     * RFC 6121 §2.5.2: when an item is removed, the server cancels the subscriptions in both
     * directions: unsubscribe when the user was subscribed to (or asked for) the contact's
     * presence, unsubscribed when the contact was subscribed to (or asked for) the user's. The
     * contact first gets unavailable presence from the user's available resources (§3.2.2).
     */
    const cancelSubscriptions = async (owner: Jid, contact: Jid, item: RosterItem): Promise<void> => {
      const to = contact.toString();
      const from = owner.bareString;
      const hadFrom = item.subscription === "from" || item.subscription === "both";
      if (item.subscription === "to" || item.subscription === "both" || item.ask === "subscribe") {
        await core.route(x("presence", { xmlns: "jabber:client", type: "unsubscribe", from, to }));
      }
      if (hadFrom) {
        for (const s of core.sessionsOf(owner)) {
          if (s.available && s.jid) await core.route(x("presence", { xmlns: "jabber:client", type: "unavailable", from: s.jid.toString(), to }));
        }
      }
      if (hadFrom || item.pendingIn) {
        await core.route(x("presence", { xmlns: "jabber:client", type: "unsubscribed", from, to }));
      }
    };

    // PRIVACY: when an account is deleted, its contacts are told (the subscriptions end, RFC 6121
    // §3.2/§3.3) and every local roster row naming it is removed, so nothing refers to it afterwards.
    // The core purges the deleted account's own rows after this.
    ctx.on("account/deleting", async ({ jid }) => {
      const user = jid.bare();
      for (const [contact, item] of await roster.getAll(user)) {
        const c = tryParseJid(contact);
        if (c) await cancelSubscriptions(user, c, item);
      }
      for (const owner of await core.localAccounts()) {
        if (owner === user.bareString) continue;
        const o = tryParseJid(owner);
        if (!o || !(await roster.getItem(o, user))) continue;
        await roster.update(o, user, () => undefined);
      }
    });
  },
});

export type { RosterItem, RosterService } from "./types.js";
export type { RosterVersion };
