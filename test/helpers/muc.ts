// Multi-user chat helpers for scenario tests (XEP-0045): joining, creating and configuring rooms,
// sending to them, and reading status codes, items and errors of what rooms send.
import { xml, type TestClient, type XmlElement } from "./client.js";

export const NS_MUC = "http://jabber.org/protocol/muc";
export const NS_MUC_USER = NS_MUC + "#user";
export const NS_MUC_ADMIN = NS_MUC + "#admin";
export const NS_MUC_OWNER = NS_MUC + "#owner";
export const NS_DATA = "jabber:x:data";
export const NS_OCCUPANT_ID = "urn:xmpp:occupant-id:0";
export const NS_SID = "urn:xmpp:sid:0";
export const NS_DELAY = "urn:xmpp:delay";
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
export const NS_MAM = "urn:xmpp:mam:2";
export const NS_RSM = "http://jabber.org/protocol/rsm";
export const MUC = "conference.localhost";

/** Status codes of a room's presence or message. */
export function codes(el: XmlElement): number[] {
  return (el.getChild("x", NS_MUC_USER)?.getChildren("status") ?? []).map((s) => Number(s.attrs.code)).sort((a, b) => a - b);
}

/** The muc#user item of a presence. */
export function item(el: XmlElement): Record<string, string> {
  return (el.getChild("x", NS_MUC_USER)?.getChild("item")?.attrs ?? {}) as Record<string, string>;
}

export function occupantId(el: XmlElement): string | undefined {
  return el.getChild("occupant-id", NS_OCCUPANT_ID)?.attrs.id;
}

/** The defined condition of an error stanza. */
export function errorCondition(el: XmlElement): string | undefined {
  return el.getChild("error")?.children.find((c): c is XmlElement => typeof c !== "string" && c.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name !== "text")?.name;
}

/** The error condition of a failed IQ, or "no error". */
export async function iqError(c: TestClient, el: XmlElement): Promise<string> {
  try {
    await c.iq(el);
  } catch (err) {
    return (err as { condition?: string }).condition ?? String(err);
  }
  return "no error";
}

export interface JoinOptions {
  password?: string;
  history?: Record<string, string>;
  /** Extra children of the presence (caps, ...). */
  extra?: XmlElement[];
}

/**
 * Sends the join presence and resolves the room's answer: the self-presence (status 110) or the
 * error presence.
 */
export async function join(c: TestClient, room: string, nick: string, opts: JoinOptions = {}): Promise<XmlElement> {
  const to = `${room}/${nick}`;
  await c.send(
    xml(
      "presence",
      { to },
      xml("x", { xmlns: NS_MUC }, opts.password !== undefined ? xml("password", {}, opts.password) : null, opts.history ? xml("history", opts.history) : null),
      ...(opts.extra ?? []),
    ),
  );
  return c.waitFor(
    (s) => s.is("presence") && s.attrs.from === to && (s.attrs.type === "error" || (s.attrs.type !== "unavailable" && codes(s).includes(110))),
  );
}

/** Waits for the subject message a room sends last on entering (XEP-0045 §7.2.16). */
export function waitSubject(c: TestClient, room: string): Promise<XmlElement> {
  return c.waitFor((s) => s.is("message") && s.attrs.from?.startsWith(room) === true && s.getChild("subject") !== undefined && s.getChild("body") === undefined);
}

/** Submits a configuration form (XEP-0045 §10.2) with these fields; an empty object makes an instant room. */
export function configure(c: TestClient, room: string, fields: Record<string, string | string[]> = {}): Promise<XmlElement> {
  const entries = Object.entries(fields);
  return c.iq(
    xml(
      "iq",
      { type: "set", to: room },
      xml(
        "query",
        { xmlns: NS_MUC_OWNER },
        xml(
          "x",
          { xmlns: NS_DATA, type: "submit" },
          entries.length > 0 ? xml("field", { var: "FORM_TYPE" }, xml("value", {}, "http://jabber.org/protocol/muc#roomconfig")) : null,
          ...entries.map(([k, v]) => xml("field", { var: k }, ...(Array.isArray(v) ? v : [v]).map((s) => xml("value", {}, s)))),
        ),
      ),
    ),
  );
}

/** Creates a room (join, then configure) and waits for the owner's subject message. */
export async function createRoom(c: TestClient, room: string, nick: string, fields: Record<string, string | string[]> = {}): Promise<XmlElement> {
  const self = await join(c, room, nick);
  if (!codes(self).includes(201)) throw new Error(`room ${room} already existed`);
  await configure(c, room, fields);
  return self;
}

export function groupchat(c: TestClient, room: string, body: string, ...extra: XmlElement[]): Promise<void> {
  return c.send(xml("message", { to: room, type: "groupchat" }, xml("body", {}, body), ...extra));
}

/** Waits for a groupchat message with this body. */
export function waitBody(c: TestClient, body: string, timeoutMs?: number): Promise<XmlElement> {
  return c.waitFor((s) => s.is("message") && s.getChildText("body") === body, timeoutMs);
}

/** A muc#admin change (XEP-0045 §8, §9). */
export function admin(c: TestClient, room: string, attrs: Record<string, string>, reason?: string): Promise<XmlElement> {
  return c.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: NS_MUC_ADMIN }, xml("item", attrs, reason !== undefined ? xml("reason", {}, reason) : null))));
}

/** A muc#admin list (XEP-0045 §9.5 and the like): jid → item attributes. */
export async function adminList(c: TestClient, room: string, attrs: Record<string, string>): Promise<Record<string, string>[]> {
  const r = await c.iq(xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS_MUC_ADMIN }, xml("item", attrs))));
  return r.getChild("query", NS_MUC_ADMIN)!.getChildren("item").map((i) => i.attrs as Record<string, string>);
}

/** disco#info of an entity: features and the fields of its forms. */
export async function discoInfo(c: TestClient, to: string, node?: string): Promise<{ features: string[]; identities: XmlElement[]; fields: Record<string, string> }> {
  const r = await c.iq(xml("iq", { type: "get", to }, xml("query", { xmlns: NS_DISCO_INFO, ...(node ? { node } : {}) })));
  const q = r.getChild("query", NS_DISCO_INFO)!;
  const fields: Record<string, string> = {};
  for (const f of q.getChild("x", NS_DATA)?.getChildren("field") ?? []) fields[f.attrs.var!] = f.getChildText("value") ?? "";
  return { features: q.getChildren("feature").map((f) => f.attrs.var!), identities: q.getChildren("identity"), fields };
}

let queryCounter = 0;

/** A room archive query (XEP-0313 on the room JID); returns the forwarded messages and the RSM set. */
export async function roomMam(
  c: TestClient,
  room: string,
  rsm: { max?: number; after?: string; before?: string } = {},
): Promise<{ results: { id: string; message: XmlElement; stamp: string }[]; fin: XmlElement; set: XmlElement }> {
  const queryid = "mq" + ++queryCounter;
  const set = xml(
    "set",
    { xmlns: NS_RSM },
    rsm.max !== undefined ? xml("max", {}, String(rsm.max)) : null,
    rsm.after !== undefined ? xml("after", {}, rsm.after) : null,
    rsm.before !== undefined ? xml("before", {}, rsm.before) : null,
  );
  const iq = await c.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: NS_MAM, queryid }, set)), 15_000);
  const mine = c.received.filter((s) => s.is("message") && s.getChild("result", NS_MAM)?.attrs.queryid === queryid);
  for (const m of mine) c.received.splice(c.received.indexOf(m), 1);
  const results = mine.map((m) => {
    if (m.attrs.from !== room) throw new Error("archive results come from the room");
    const r = m.getChild("result", NS_MAM)!;
    const fwd = r.getChild("forwarded", "urn:xmpp:forward:0")!;
    return { id: r.attrs.id!, message: fwd.getChild("message")!, stamp: fwd.getChild("delay", NS_DELAY)!.attrs.stamp! };
  });
  const fin = iq.getChild("fin", NS_MAM)!;
  return { results, fin, set: fin.getChild("set", NS_RSM)! };
}
