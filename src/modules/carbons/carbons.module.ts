// Message Carbons (XEP-0280, urn:xmpp:carbons:2): a resource that enabled carbons gets copies of the
// messages its account receives on, and sends from, its other resources (XEP-0297 forwarding).
// Eligibility follows XEP-0280 §6 (1.0); the no-copy hint is XEP-0334 §4.
import { defineModule } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import type { Core } from "../../core/core.js";
import type { StanzaEvent } from "../../core/events.js";
import type { Session } from "../../core/session.js";
import type { Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";

export const NS_CARBONS = "urn:xmpp:carbons:2";
export const NS_FORWARD = "urn:xmpp:forward:0";
export const NS_HINTS = "urn:xmpp:hints";
const NS_RECEIPTS = "urn:xmpp:receipts";
const NS_CHAT_MARKERS = "urn:xmpp:chat-markers:0";
const NS_CHAT_STATES = "http://jabber.org/protocol/chatstates";

const MODULE = "carbons";

/** Message types as RFC 6121 §5.2.2 reads them: unknown or absent means "normal". */
function messageType(stanza: Element): string {
  const t = stanza.attrs.type;
  return t === "chat" || t === "error" || t === "groupchat" || t === "headline" ? t : "normal";
}

function hasBody(stanza: Element): boolean {
  return stanza.getChildren("body").some((b) => b.ns === NS.CLIENT || b.ns === "");
}

/** Payloads of instant messaging other than a body: receipts, chat markers, chat states. */
function hasImPayload(stanza: Element): boolean {
  for (const c of stanza.elements()) {
    if (c.ns === NS_RECEIPTS && (c.name === "received" || c.name === "request")) return true; // XEP-0184
    if (c.ns === NS_CHAT_MARKERS) return true; // XEP-0333
    if (c.ns === NS_CHAT_STATES) return true; // XEP-0085 (XEP-0280 §10.2: copied on purpose)
  }
  return false;
}

/**
 * Whether a message is copied to carbons-enabled resources (XEP-0280 §6). Errors are copied when
 * they carry the content of an eligible message (a bounce echoes it, RFC 6120 §8.3.1) — our stand-in
 * for §6's "in response to an eligible message", which would need the server to track messages.
 */
export function isEligible(stanza: Element): boolean {
  if (stanza.name !== "message") return false;
  const type = messageType(stanza);
  // XEP-0280 §6: never messages from group chats
  if (type === "groupchat" || type === "headline") return false;
  // XEP-0280 §9: the sender asked for no copies; XEP-0334 §4: <no-copy/> hint
  if (stanza.getChild("private", NS_CARBONS) || stanza.getChild("no-copy", NS_HINTS)) return false;
  // a copy is never copied again (it would come back to the account as a copy of a copy)
  if (stanza.getChild("received", NS_CARBONS) || stanza.getChild("sent", NS_CARBONS)) return false;
  if (type === "chat") return true;
  // XEP-0280 §6: normal with a body; IM payloads; errors as described above
  return hasBody(stanza) || hasImPayload(stanza);
}

/**
 * The copy of `original` for the resource `to` (XEP-0280 §7 / §8): from the account's bare JID,
 * same type, the original inside <received/> or <sent/> and XEP-0297 <forwarded/>.
 */
export function wrapCarbon(direction: "received" | "sent", original: Element, account: Jid, to: Jid): Element {
  const inner = original.clone();
  if (inner.ns === "") inner.ns = NS.CLIENT; // keep the inner stanza in jabber:client once nested
  return x(
    "message",
    { xmlns: NS.CLIENT, from: account.bareString, to: to.toString(), type: original.attrs.type },
    x(direction, { xmlns: NS_CARBONS }, x("forwarded", { xmlns: NS_FORWARD }, inner)),
  );
}

/**
 * The sessions that get `stanza` itself under the message module's rules (RFC 6121 §8.5.2, §8.5.3),
 * or undefined when no one gets it (dropped). An empty set means it goes to offline storage.
 */
export function originalRecipients(core: Core, to: Jid, stanza: Element): Set<Session> | undefined {
  const type = messageType(stanza);
  if (to.resource !== "") {
    const s = core.sessionFor(to);
    if (s) return new Set([s]); // RFC 6121 §8.5.3.1
    if (type === "error") return undefined; // errors to an absent resource are dropped
  } else if (type === "error") {
    return undefined; // RFC 6121 §8.5.2.1.1: errors to a bare JID are ignored
  }
  // RFC 6121 §8.5.2.1.1 (and §8.5.3.2.1 for an absent resource): every available, non-negative resource
  return new Set(core.sessionsOf(to.bare()).filter((s) => s.available && s.priority >= 0));
}

/** Whether the session enabled carbons (XEP-0280 §4). */
export function carbonsEnabled(session: Session): boolean {
  return session.data.get(MODULE) === true;
}

export const carbonsModule = defineModule({
  name: MODULE,
  specs: ["XEP-0280"],
  // XEP-0280 §3
  disco: { features: [NS_CARBONS] },
  setup(ctx) {
    const core = ctx.core;

    // XEP-0280 §4 / §5: per session, not persisted; repeated requests simply succeed (§10.1)
    const toggle = (on: boolean) => (req: { origin: Session | undefined; from: Jid; to: Jid }) => {
      // §4.1 / §5.1: only a client of this account, for itself
      if (!req.origin || !req.to.equals(req.from.bare())) throw new StanzaError("not-allowed");
      if (on) req.origin.data.set(MODULE, true);
      else req.origin.data.delete(MODULE);
      return undefined;
    };
    ctx.iq("account", "set", NS_CARBONS, "enable", toggle(true));
    ctx.iq("account", "set", NS_CARBONS, "disable", toggle(false));

    // XEP-0280 §7: received copies, for the recipient's enabled resources that did not get the message
    const onIncoming = (ev: StanzaEvent): boolean => {
      const { stanza } = ev;
      const isPrivate = stanza.getChild("private", NS_CARBONS) !== undefined;
      if (isPrivate) {
        // XEP-0280 §9: the receiving server SHOULD remove <private/> before delivery
        stanza.children = stanza.children.filter((c) => typeof c === "string" || !c.is("private", NS_CARBONS));
        return false; // and MUST NOT copy it
      }
      if (!isEligible(stanza)) return false;
      // between resources of one account the sender's side already made <sent/> copies (§8)
      if (ev.origin && ev.from.bare().equals(ev.to.bare())) return false;
      const enabled = core.sessionsOf(ev.to.bare()).filter(carbonsEnabled);
      if (enabled.length === 0) return false;
      const gets = originalRecipients(core, ev.to, stanza);
      if (!gets) return false;
      const account = ev.to.bare();
      for (const s of enabled) {
        // §7: not to a resource that receives the original. When it goes to offline storage, an
        // unavailable session will get it at its initial presence: no copy now.
        if (gets.has(s) || (gets.size === 0 && !s.available) || !s.jid) continue;
        core.deliver(s, wrapCarbon("received", stanza, account, s.jid));
      }
      return false; // delivery goes on (message module)
    };
    ctx.on("message/bare", onIncoming, 10);
    ctx.on("message/full", onIncoming, 10);

    // XEP-0280 §8: sent copies, for the sender's other enabled resources (whether or not the
    // sending one enabled carbons)
    ctx.on(
      "stanza/outgoing",
      (ev) => {
        const { stanza, origin } = ev;
        if (!origin || stanza.name !== "message" || !isEligible(stanza)) return false;
        const account = ev.from.bare();
        const mine = core.sessionsOf(account).filter((s) => s !== origin && carbonsEnabled(s));
        if (mine.length === 0) return false;
        // a message to the account itself: the resources receiving it need no copy
        const gets = ev.to.bare().equals(account) ? originalRecipients(core, ev.to, stanza) : undefined;
        for (const s of mine) {
          if (gets?.has(s) || !s.jid) continue;
          core.deliver(s, wrapCarbon("sent", stanza, account, s.jid));
        }
        return false;
      },
      10,
    );
  },
});
