// Which messages go into a personal archive (XEP-0313 §6.1.1 user archives, XEP-0334 hints,
// XEP-0441 preferences) and the XEP-0359 stanza-id handling on archived messages.
import { Element } from "../../xml/element.js";
import type { Jid } from "../../jid/jid.js";

export const NS_MAM = "urn:xmpp:mam:2";
export const NS_MAM_EXTENDED = "urn:xmpp:mam:2#extended";
export const NS_SID = "urn:xmpp:sid:0";
export const NS_HINTS = "urn:xmpp:hints";
export const NS_FORWARD = "urn:xmpp:forward:0";
export const NS_RSM = "http://jabber.org/protocol/rsm";
/** OMEMO payloads carry no <body/> but are conversation content (legacy and current namespace). */
export const NS_OMEMO_LEGACY = "eu.siacs.conversations.axolotl";
export const NS_OMEMO = "urn:xmpp:omemo:2";

/**
 * True when a message is conversation content worth archiving, before any user preference:
 * type chat or normal (absent and unknown types read as normal, RFC 6121 §5.2.2) with a <body/>,
 * an OMEMO payload or a XEP-0334 <store/> hint, and no <no-store/> or <no-permanent-store/> hint.
 */
export function isArchivable(stanza: Element): boolean {
  if (stanza.name !== "message") return false;
  const t = stanza.attrs.type;
  // XEP-0313 §6.1.1: a user archive holds type 'normal' or 'chat'; groupchat, headline and
  // error messages are left out (groupchat is a MAY we do not take: rooms keep their own archive).
  if (t === "error" || t === "groupchat" || t === "headline") return false;
  let content = false;
  for (const c of stanza.children) {
    if (typeof c === "string") continue;
    if (c.ns === NS_HINTS) {
      // PRIVACY / XEP-0334 §4.1, §4.2: the sender asked that this message not be kept
      if (c.name === "no-store" || c.name === "no-permanent-store") return false;
      if (c.name === "store") content = true; // XEP-0334 §4.4: SHOULD be stored
    } else if (c.name === "body" && c.ns === stanza.ns) {
      content = true;
    } else if (c.name === "encrypted" && (c.ns === NS_OMEMO_LEGACY || c.ns === NS_OMEMO)) {
      content = true;
    }
  }
  return content;
}

/**
 * XEP-0359 §4 rules 3 and 4: an entity adding a stanza-id overrides any with its own 'by', and a
 * stanza carries at most one per 'by'. Removing every <stanza-id by=archive/> a sender put there
 * keeps a forged archive id from reaching the account's clients, archived or not. Returns whether
 * anything was removed.
 */
export function stripStanzaIds(stanza: Element, by: string): boolean {
  let any = false;
  for (const c of stanza.children) if ((any = isStanzaIdBy(c, by))) break;
  if (!any) return false; // the usual case: nothing to strip, nothing copied
  stanza.children = stanza.children.filter((c) => !isStanzaIdBy(c, by));
  return true;
}

function isStanzaIdBy(c: Element | string, by: string): boolean {
  return typeof c !== "string" && c.name === "stanza-id" && c.ns === NS_SID && c.attrs.by === by;
}

/** XEP-0313 §3.5: tells the recipient where the message is archived. */
export function addStanzaId(stanza: Element, by: Jid, id: string): void {
  stanza.append(new Element("stanza-id", NS_SID, { by: by.bareString, id }));
}
