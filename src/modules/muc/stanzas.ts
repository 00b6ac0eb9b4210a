// The stanzas a room sends, built from its state (XEP-0045 §7.2.3 occupant presence with the
// muc#user item and status codes, §7.2.16 subject; XEP-0421 occupant ids) and what a room keeps
// out of what clients send it (XEP-0359 §4 stanza ids, XEP-0421 §4 occupant ids).
import { NS } from "../../core/namespaces.js";
import { x, type Element } from "../../xml/element.js";
import { seesRealJids, type Role } from "./permissions.js";
import type { Occupant, Room } from "./room.js";

export const NS_MUC = "http://jabber.org/protocol/muc";
export const NS_MUC_USER = NS_MUC + "#user";
export const NS_MUC_ADMIN = NS_MUC + "#admin";
export const NS_MUC_OWNER = NS_MUC + "#owner";
export const NS_REGISTER = "jabber:iq:register";
export const NS_OCCUPANT_ID = "urn:xmpp:occupant-id:0";
export const NS_SID = "urn:xmpp:sid:0";
export const NS_MAM = "urn:xmpp:mam:2";
export const NS_PING = "urn:xmpp:ping";
export const NS_VCARD = "vcard-temp";
const NS_HINTS = "urn:xmpp:hints";
const NS_OMEMO_LEGACY = "eu.siacs.conversations.axolotl";
const NS_OMEMO = "urn:xmpp:omemo:2";
/** XEP-0410 §3.2: the service answers self-pings itself. */
export const NS_SELF_PING_OPT = "http://jabber.org/protocol/muc#self-ping-optimization";
/** XEP-0045 §6.4 / §17: stanza ids of the room are stable (XEP-0359). */
export const NS_STABLE_ID = "http://jabber.org/protocol/muc#stable_id";

const XEP0082 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
/** Parses a XEP-0082 DateTime to milliseconds; undefined when malformed. */
export function parseTime(s: string): number | undefined {
  if (!XEP0082.test(s.trim())) return undefined;
  const t = Date.parse(s.trim());
  return Number.isFinite(t) ? t : undefined;
}

/** True for messages worth keeping in history and archive: a body or an encrypted payload, no no-store hint (XEP-0334). */
export function isContent(m: Element): boolean {
  let content = false;
  for (const c of m.elements()) {
    if (c.ns === NS_HINTS && (c.name === "no-store" || c.name === "no-permanent-store")) return false;
    if (c.ns === NS_HINTS && c.name === "store") content = true;
    if (c.name === "body" && c.ns === m.ns) content = true;
    if (c.name === "encrypted" && (c.ns === NS_OMEMO || c.ns === NS_OMEMO_LEGACY)) content = true;
  }
  return content;
}

/** What an occupant presence says beyond the occupant's own presence. */
export interface PresenceOptions {
  codes?: number[];
  unavailable?: boolean;
  /** XEP-0045 §7.6.3: the new nickname, in the unavailable presence of a nick change. */
  itemNick?: string;
  actor?: string;
  reason?: string;
  destroy?: Element;
  /** The presence to start from instead of the occupant's last one (its unavailable presence). */
  base?: Element;
}

/** Removes what a client put in that only the room may say (XEP-0421 §4, XEP-0359 §4 rule 3). */
export function stripOwn(st: Element, roomJid: string): void {
  st.children = st.children.filter(
    (c) =>
      typeof c === "string" ||
      !((c.name === "occupant-id" && c.ns === NS_OCCUPANT_ID) || (c.name === "stanza-id" && c.ns === NS_SID && c.attrs.by === roomJid)),
  );
}


/** A client's presence without what the room adds itself. */
export function cleanPresence(stanza: Element): Element {
  const p = stanza.clone();
  p.children = p.children.filter(
    (c) => typeof c === "string" || !((c.name === "x" && (c.ns === NS_MUC || c.ns === NS_MUC_USER)) || (c.name === "occupant-id" && c.ns === NS_OCCUPANT_ID)),
  );
  delete p.attrs.to;
  delete p.attrs.id;
  return p;
}

export function subjectMessage(room: Room): Element {
  // §7.2.16: always sent, empty when there is none; from the occupant who set it, or the room
  const by = room.subjectBy !== "" && room.occupants.has(room.subjectBy) ? `${room.jid}/${room.subjectBy}` : room.jid;
  return x("message", { xmlns: NS.CLIENT, type: "groupchat", from: by, id: "subject-" + room.createdAt }, x("subject", null, room.subject));
}

/**
 * An occupant's presence as `viewerRole` sees it: its last presence, the muc#user item (with the
 * real JID only for those allowed to see it, XEP-0045 §7.2.3/§7.2.4) and its occupant id.
 */
export function occupantPresence(
  room: Room,
  o: Occupant,
  viewerRole: Role,
  opts: PresenceOptions = {},
): Element {
  const last = opts.base ?? [...o.sessions.values()].pop();
  const p = last ? cleanPresence(last) : x("presence", { xmlns: NS.CLIENT });
  p.attrs.from = `${room.jid}/${o.nick}`;
  if (opts.unavailable) p.attrs.type = "unavailable";
  else delete p.attrs.type;
  const fullJid = [...o.sessions.keys()][0];
  const item = x("item", {
    affiliation: room.affiliationOf(o.bare),
    role: opts.unavailable ? "none" : o.role,
    jid: seesRealJids(viewerRole, room.config) ? fullJid : undefined,
    nick: opts.itemNick,
  });
  if (opts.actor !== undefined) item.append(x("actor", { nick: opts.actor }));
  if (opts.reason !== undefined) item.append(x("reason", null, opts.reason));
  p.append(
    x(
      "x",
      { xmlns: NS_MUC_USER },
      item,
      opts.destroy ?? null,
      ...(opts.codes ?? []).map((c) => x("status", { code: String(c) })),
    ),
  );
  p.append(x("occupant-id", { xmlns: NS_OCCUPANT_ID, id: room.occupantId(o.bare) })); // XEP-0421 §3
  return p;
}

