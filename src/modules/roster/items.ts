// Roster item syntax (RFC 6121 §2.1.2): building <item/> elements, validating roster sets against
// the error cases of RFC 6121 §2.3.3, and keeping stanzas as JSON in storage.
import { Element, x } from "../../xml/element.js";
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { StanzaError } from "../../core/errors.js";
import type { ElementJson, RosterItem } from "./types.js";

export const NS_ROSTER = "jabber:iq:roster";
/** XEP-0237 §3 / RFC 6121 §2.6.1: the roster versioning stream feature. */
export const NS_ROSTER_VER = "urn:xmpp:features:rosterver";

/** Server-configured limits RFC 6121 §2.3.3 refers to. */
export const LIMITS = {
  /** Characters of the 'name' attribute. */
  maxNameLength: 1023,
  /** Characters of one group name. */
  maxGroupLength: 1023,
  /** Groups per item. */
  maxGroups: 64,
  /** Rows per account (visible items and pending requests). */
  maxItems: 1000,
} as const;

/** Builds the <item/> element of a roster result or push; undefined gives subscription="remove" (RFC 6121 §2.5.2). */
export function itemElement(contact: string, item: RosterItem | undefined): Element {
  if (!item) return x("item", { jid: contact, subscription: "remove" });
  const el = x("item", {
    jid: contact,
    name: item.name,
    subscription: item.subscription,
    ask: item.ask, // RFC 6121 §2.1.2.2
    approved: item.approved ? "true" : undefined, // RFC 6121 §2.1.2.1
  });
  for (const g of item.groups) el.append(x("group", null, g));
  return el;
}

/** A validated roster set (RFC 6121 §2.3). */
export interface RosterSet {
  jid: Jid;
  remove: boolean;
  name: string | undefined;
  groups: string[];
}

/**
 * Validates the payload of a roster set. `owner` is the account's bare JID. Throws the stanza
 * error RFC 6121 §2.3.3 names for each violation.
 */
export function parseRosterSet(query: Element, owner: Jid): RosterSet {
  const items = query.getChildren("item", NS_ROSTER);
  // RFC 6121 §2.3.3: exactly one <item/> (more than one is bad-request; none is meaningless)
  if (items.length !== 1 || query.elements().length !== 1) throw new StanzaError("bad-request", "A roster set carries exactly one item");
  const item = items[0]!;
  const jidAttr = item.attrs.jid;
  if (jidAttr === undefined || jidAttr === "") throw new StanzaError("bad-request", "The item has no jid");
  const jid = tryParseJid(jidAttr);
  if (!jid) throw new StanzaError("jid-malformed", "The item's jid is not a valid JID");
  // RFC 6121 §2.1.1: roster items are addressed by bare JID
  if (!jid.isBare) throw new StanzaError("bad-request", "Roster items are bare JIDs");
  // The account is implicitly subscribed to itself (RFC 6121 §4.2.2); a roster item for it has no meaning.
  if (jid.equals(owner)) throw new StanzaError("not-allowed", "You cannot add your own address to your roster");
  // RFC 6121 §2.1.2.5: in a roster set every 'subscription' value but "remove" is ignored,
  // as are 'ask' (§2.1.2.2) and 'approved' (§2.1.2.1).
  const remove = item.attrs.subscription === "remove";
  const name = item.attrs.name;
  // RFC 6121 §2.3.3: an over-long handle is not-acceptable
  if (name !== undefined && [...name].length > LIMITS.maxNameLength) throw new StanzaError("not-acceptable", "The name is too long");
  const groups: string[] = [];
  for (const g of item.getChildren("group", NS_ROSTER)) {
    const text = g.text();
    // RFC 6121 §2.3.3: an empty group is not-acceptable
    if (text.length === 0) throw new StanzaError("not-acceptable", "A group name is empty");
    // RFC 6121 §2.3.3: a group larger than the server's limit is not-acceptable
    if ([...text].length > LIMITS.maxGroupLength) throw new StanzaError("not-acceptable", "A group name is too long");
    // RFC 6121 §2.3.3: duplicate groups are bad-request
    if (groups.includes(text)) throw new StanzaError("bad-request", "Duplicate group");
    groups.push(text);
  }
  if (groups.length > LIMITS.maxGroups) throw new StanzaError("not-acceptable", "Too many groups");
  return { jid, remove, name: name === "" ? undefined : name, groups };
}

/** Element to and from JSON (for stanzas kept in storage); one implementation in src/xml. */
export { toJson as elementToJson, fromJson as elementFromJson } from "../../xml/element-json.js";

/** The visible part of a row, to tell whether a change needs a roster push. */
export function visibleKey(item: RosterItem | undefined): string {
  if (!item || item.hidden) return "";
  return JSON.stringify([item.name ?? null, item.subscription, item.ask ?? null, item.approved === true, item.groups]);
}
