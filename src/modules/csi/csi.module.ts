// Client State Indication (XEP-0352, urn:xmpp:csi:0): while a client says it is inactive, presence
// updates for it are held back, only the newest per sender kept (XEP-0352 §3.2's first example),
// and flushed before anything important and when it becomes active again.
import { defineModule } from "../../core/module.js";
import { NS } from "../../core/namespaces.js";
import type { Session } from "../../core/session.js";
import { x, type Element } from "../../xml/element.js";

export const NS_CSI = "urn:xmpp:csi:0";
const NS_CARBONS = "urn:xmpp:carbons:2";
const NS_FORWARD = "urn:xmpp:forward:0";

/**
 * Held presences per session are bounded by their senders; this caps what anyone sending directed
 * presence from many resources could make us keep. Reaching it flushes everything.
 */
export const MAX_HELD = 500;

/** Per-session state in `session.data`. */
export interface CsiState {
  inactive: boolean;
  /** Newest held presence per sender full JID; Map order is the order of arrival of that newest one. */
  held: Map<string, Element>;
}

/**
 * What an inactive session's filter does with a stanza:
 * - "hold": presence updates (available / unavailable), which only the newest per sender matters for;
 * - "flush": important stanzas — messages with a body (or carbons of them), IQs, subscription
 *   requests and answers, presence errors — the client wakes up for them anyway, so the held
 *   presences go first, which keeps their order relative to what follows;
 * - "deliver": the rest (body-less messages such as chat states or receipts, headlines) goes at
 *   once, leaving the held presences held.
 */
export function classify(stanza: Element): "hold" | "flush" | "deliver" {
  if (stanza.name === "presence") {
    const type = stanza.attrs.type;
    // RFC 6121 §4: presence updates; subscription stanzas (RFC 6121 §3) and errors are important
    return type === undefined || type === "unavailable" ? "hold" : "flush";
  }
  if (stanza.name === "message") {
    if (stanza.attrs.type === "headline") return "deliver";
    if (stanza.getChild("sent", NS_CARBONS)) return "flush"; // the user wrote it on another device
    const inner = stanza.getChild("received", NS_CARBONS)?.getChild("forwarded", NS_FORWARD)?.getChild("message");
    const m = inner ?? stanza;
    return m.getChild("body") ? "flush" : "deliver";
  }
  return "flush";
}

/** The state of a session, created on first use. */
function stateOf(session: Session, name: string): CsiState {
  let st = session.data.get(name) as CsiState | undefined;
  if (!st) {
    st = { inactive: false, held: new Map() };
    session.data.set(name, st);
  }
  return st;
}

/**
 * Keeps `stanza` as the newest presence of its sender; a clone carries an XEP-0203 <delay/> so the
 * client knows when the change happened (unless the sender's own delay is there).
 */
export function hold(st: CsiState, stanza: Element, by: string, now = new Date()): void {
  const key = stanza.attrs.from ?? "";
  const kept = stanza.clone();
  if (!kept.getChild("delay", NS.DELAY)) kept.append(x("delay", { xmlns: NS.DELAY, from: by, stamp: now.toISOString() }));
  st.held.delete(key); // re-inserted: Map order follows the newest arrival
  st.held.set(key, kept);
}

/** Writes the held presences in arrival order and forgets them. */
function flush(session: Session, st: CsiState): void {
  if (st.held.size === 0) return;
  const held = [...st.held.values()];
  st.held.clear();
  // session.send, not core.deliver: we are inside a "stanza/deliver" hook (no re-entry), and these
  // stanzas already passed the hooks of higher priority when they first came.
  for (const el of held) session.send(el);
}

export const csiModule = defineModule({
  name: "csi",
  specs: ["XEP-0352"],
  setup(ctx) {
    const name = ctx.name;

    // XEP-0352 §4.1: advertised after authentication
    ctx.streamFeature("post-auth", () => x("csi", { xmlns: NS_CSI }));

    // XEP-0352 §4.2: no reply to either nonza. §5: a stream starts active.
    ctx.nonza(NS_CSI, "inactive", (session) => {
      stateOf(session, name).inactive = true;
    });
    // XEP-0352 §5.1: the flush happens before the session's next stanza is processed (nonzas are
    // handled in the session's in-order queue, and flushing is synchronous)
    ctx.nonza(NS_CSI, "active", (session) => {
      const st = session.data.get(name) as CsiState | undefined;
      if (!st) return;
      st.inactive = false;
      flush(session, st);
    });

    // Must stay synchronous (core.events.emitSync on the delivery path).
    ctx.on(
      "stanza/deliver",
      ({ session, stanza }) => {
        const st = session.data.get(name) as CsiState | undefined;
        if (!st?.inactive) return false;
        const what = classify(stanza);
        if (what === "hold") {
          hold(st, stanza, session.host || ctx.core.defaultHost);
          if (st.held.size >= MAX_HELD) flush(session, st);
          return true;
        }
        if (what === "flush") flush(session, st);
        return false;
      },
      100,
    );

    // Held presences die with the session (resumption copies session.data, so they survive that).
    ctx.on("session/closed", ({ session }) => {
      const st = session.data.get(name) as CsiState | undefined;
      st?.held.clear();
    });
  },
});
