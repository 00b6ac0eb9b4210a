// The roster in XEP-0227 form: a jabber:iq:roster <query/> as in a roster result (RFC 6121
// §2.1.2), and pending inbound subscription requests as <presence type='subscribe'/> children of
// <user/> (what prosody-migrator writes); exported from and imported into the `roster` service.
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import type { ImportResult, PortableHandler } from "../../core/portable.js";
import { NS_ROSTER, LIMITS, elementToJson, elementFromJson, itemElement } from "./items.js";
import type { RosterItem, RosterService, Subscription } from "./types.js";

const NS_CLIENT = "jabber:client";
const SUBSCRIPTIONS = new Set<string>(["none", "to", "from", "both"]);

/** The roster module's export/import handler. */
export function rosterPortable(roster: RosterService): PortableHandler {
  return {
    elements: [
      { name: "query", ns: NS_ROSTER },
      { name: "presence", ns: NS_CLIENT },
    ],
    async export(account) {
      const rows = await roster.getAll(account);
      const query = x("query", { xmlns: NS_ROSTER });
      const pending: Element[] = [];
      for (const [contact, item] of [...rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (!item.hidden) query.append(itemElement(contact, item));
        if (item.pendingIn) {
          const stanza = item.pendingStanza ? elementFromJson(item.pendingStanza) : undefined;
          pending.push(x("presence", { xmlns: NS_CLIENT, from: contact, type: "subscribe" }, ...(stanza?.elements() ?? [])));
        }
      }
      return { elements: [query, ...pending] };
    },
    async import(account, elements) {
      return importRoster(roster, account, elements);
    },
  };
}

/** Merges roster items and pending requests into the account's roster (no pushes: nobody is online). */
export async function importRoster(roster: RosterService, account: Jid, elements: Element[]): Promise<ImportResult> {
  let imported = 0;
  const notes: string[] = [];
  let skipped = 0;
  for (const el of elements) {
    if (el.name === "query") {
      for (const item of el.getChildren("item", NS_ROSTER)) {
        const contact = tryParseJid(item.attrs.jid ?? "");
        // RFC 6121 §2.1.1: bare JIDs only; the account itself is never an item
        if (!contact || !contact.isBare || contact.equals(account)) {
          skipped++;
          continue;
        }
        const sub = item.attrs.subscription ?? "none";
        const groups = [...new Set(item.getChildren("group", NS_ROSTER).map((g) => g.text()).filter((g) => g !== ""))]
          .filter((g) => [...g].length <= LIMITS.maxGroupLength)
          .slice(0, LIMITS.maxGroups);
        const name = item.attrs.name && [...item.attrs.name].length <= LIMITS.maxNameLength ? item.attrs.name : undefined;
        await roster.update(
          account,
          contact,
          (cur) => {
            const next: RosterItem = { ...(cur ?? {}), subscription: (SUBSCRIPTIONS.has(sub) ? sub : "none") as Subscription, groups };
            delete next.hidden;
            if (name !== undefined) next.name = name;
            else delete next.name;
            if (item.attrs.ask === "subscribe") next.ask = "subscribe";
            if (item.attrs.approved === "true") next.approved = true;
            return next;
          },
          false,
        );
        imported++;
      }
    } else if (el.name === "presence" && el.attrs.type === "subscribe") {
      const from = tryParseJid(el.attrs.from ?? "");
      if (!from || from.bare().equals(account)) {
        skipped++;
        continue;
      }
      const contact = from.bare();
      const request = x("presence", { xmlns: NS_CLIENT, from: contact.toString(), to: account.bareString, type: "subscribe" }, ...el.elements());
      await roster.update(
        account,
        contact,
        (cur) => ({ ...(cur ?? { subscription: "none", groups: [], hidden: true }), pendingIn: true, pendingStanza: elementToJson(request) }),
        false,
      );
      imported++;
    }
  }
  if (skipped > 0) notes.push(`${skipped} invalid roster entries skipped`);
  return { imported, notes };
}
