// Presence subscriptions (RFC 6121 §3, Appendix A, pre-approval §3.4) and presence exchange
// (RFC 6121 §4: initial, subsequent and unavailable presence, probes, directed presence) plus the
// delivery rules for presence to local accounts (RFC 6121 §8.5).
import { defineModule } from "../../core/module.js";
import { StanzaError, errorReply } from "../../core/errors.js";
import type { StanzaEvent } from "../../core/events.js";
import type { Session } from "../../core/session.js";
import type { Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { errorSummary } from "../../core/session.js";
import { elementToJson } from "../roster/items.js";
import type { RosterItem, RosterService } from "../roster/types.js";
import { addressed, availableSessions, broadcastPresence, parsePriority, unavailableFrom } from "./broadcast.js";
import { NONE, inbound, isSubscriptionType, outbound, type SubState, type SubscriptionType } from "./subscription.js";

/** RFC 6121 §3.4.1: the stream feature announcing subscription pre-approval. */
export const NS_PREAPPROVAL = "urn:xmpp:features:pre-approval";

/** Per-session state kept in `session.data` under the module's name. */
interface PresenceSessionState {
  /** Entities that got directed available presence from this session (RFC 6121 §4.6). */
  directed: Set<string>;
}

/** The subscription state a roster row stands for (no row: "None"). */
export function subStateOf(item: RosterItem | undefined): SubState {
  if (!item) return NONE;
  return { subscription: item.subscription, pendingOut: item.ask === "subscribe", pendingIn: item.pendingIn === true, approved: item.approved === true };
}

/**
 * The roster row after a state change. `show` makes a hidden row part of the visible roster (the
 * user acted on the contact and some state remains); a hidden or new row left in plain "None" is
 * deleted; `request` is the inbound subscribe to keep while it is pending.
 */
export function applyState(item: RosterItem | undefined, next: SubState, show: boolean, request?: Element): RosterItem | undefined {
  const row: RosterItem = item ? { ...item, groups: [...item.groups] } : { subscription: "none", groups: [], hidden: true };
  row.subscription = next.subscription;
  if (next.pendingOut) row.ask = "subscribe";
  else delete row.ask;
  if (next.approved) row.approved = true;
  else delete row.approved;
  if (next.pendingIn) {
    row.pendingIn = true;
    if (request) row.pendingStanza = elementToJson(request);
  } else {
    delete row.pendingIn;
    delete row.pendingStanza;
  }
  const plain = next.subscription === "none" && !next.pendingOut && !next.pendingIn && !next.approved;
  // a row that only held state is dropped once no state is left (e.g. a denied request)
  if (row.hidden && plain) return undefined;
  if (show) delete row.hidden;
  return row;
}

function sameState(a: SubState, b: SubState): boolean {
  return a.subscription === b.subscription && a.pendingOut === b.pendingOut && a.pendingIn === b.pendingIn && a.approved === b.approved;
}

export const presenceModule = defineModule({
  name: "presence",
  specs: ["RFC 6121 §3", "RFC 6121 §4", "RFC 6121 §8.5 (presence)"],
  after: ["roster"],
  setup(ctx) {
    const core = ctx.core;
    const found = ctx.use<RosterService>("roster");
    if (!found) throw new Error("the presence module needs the roster module");
    const roster: RosterService = found;
    const log = ctx.log;

    // RFC 6121 §3.4.1: pre-approvals are supported
    ctx.streamFeature("post-auth", () => x("sub", { xmlns: NS_PREAPPROVAL }));

    const state = (s: Session): PresenceSessionState => {
      let st = s.data.get(ctx.name) as PresenceSessionState | undefined;
      if (!st) {
        st = { directed: new Set() };
        s.data.set(ctx.name, st);
      }
      return st;
    };

    /** Presence from each of `user`'s available resources to `to`: current, or unavailable. */
    const sendFromResources = async (user: Jid, to: Jid, kind: "available" | "unavailable"): Promise<void> => {
      for (const s of availableSessions(core, user)) {
        if (!s.jid || !s.presence) continue;
        await core.route(kind === "available" ? addressed(s.presence, to) : unavailableFrom(s.jid, to));
      }
    };

    const deliverToAvailable = (user: Jid, stanza: Element): void => {
      for (const s of availableSessions(core, user)) core.deliver(s, stanza.clone());
    };

    // ---- RFC 6121 §3: outbound subscription stanzas (Appendix A.2) ----

    const outboundSubscription = async (ev: StanzaEvent, type: SubscriptionType): Promise<void> => {
      const user = ev.from.bare();
      const contact = ev.to.bare();
      // the account is implicitly subscribed to itself (RFC 6121 §4.2.2); nothing to record
      if (contact.equals(user)) return;
      let result = outbound(type, NONE);
      await roster.update(user, contact, (cur) => {
        const before = subStateOf(cur);
        result = outbound(type, before);
        // RFC 6121 §3.1.2 / §3.4.2: the user acted on the contact, so the item is in the roster
        return sameState(before, result.next) ? cur : applyState(cur, result.next, true);
      });
      // RFC 6121 §3.2.2: unavailable presence before the cancellation
      if (result.sendPresence === "unavailable") await sendFromResources(user, contact, "unavailable");
      if (result.route) {
        // RFC 6121 §3.1.2: the user's server stamps the bare JID as 'from'
        const out = ev.stanza.clone();
        out.attrs.from = user.toString();
        out.attrs.to = contact.toString();
        await core.route(out);
      }
      // RFC 6121 §3.1.5: once subscribed, the contact gets the user's current presence
      if (result.sendPresence === "available") await sendFromResources(user, contact, "available");
    };

    // ---- RFC 6121 §3: inbound subscription stanzas (Appendix A.3) ----

    const inboundSubscription = async (ev: StanzaEvent, type: SubscriptionType): Promise<void> => {
      const owner = ev.to.bare();
      const contact = ev.from.bare();
      if (contact.equals(owner)) return;
      if (!(await core.accountExists(owner))) {
        // RFC 6121 §3.1.3: a request to an account that does not exist is answered unsubscribed
        if (type === "subscribe") await core.route(x("presence", { xmlns: "jabber:client", type: "unsubscribed", from: owner.toString(), to: contact.toString() }));
        return; // RFC 6121 §8.5.1: other subscription stanzas are ignored
      }
      // what is delivered (and kept, for a pending request) is addressed to the bare JID, from the bare JID
      const stanza = ev.stanza.clone();
      stanza.attrs.from = contact.toString();
      stanza.attrs.to = owner.toString();
      let result = inbound(type, NONE);
      await roster.update(owner, contact, (cur) => {
        const before = subStateOf(cur);
        result = inbound(type, before);
        if (sameState(before, result.next)) return cur;
        return applyState(cur, result.next, false, type === "subscribe" ? stanza : undefined);
      });
      // RFC 6121 §3.3.3: the contact no longer receives the owner's presence
      if (result.sendPresence === "unavailable") await sendFromResources(owner, contact, "unavailable");
      // RFC 6121 §3.1.3: a request is delivered to every available resource; with none, it stays
      // pending in the roster row and is delivered at the next initial presence
      if (result.deliver) deliverToAvailable(owner, stanza);
      if (result.autoReply) {
        // RFC 6121 §3.1.3 (already subscribed) / §3.4 (pre-approved): approve on the owner's behalf
        await core.route(x("presence", { xmlns: "jabber:client", type: "subscribed", from: owner.toString(), to: contact.toString() }));
      }
      if (result.sendPresence === "available") await sendFromResources(owner, contact, "available");
    };

    // ---- RFC 6121 §4.3.2: probes ----

    const probe = async (ev: StanzaEvent): Promise<void> => {
      const owner = ev.to.bare();
      const prober = ev.from;
      if (!(await core.accountExists(owner))) return; // RFC 6121 §8.5.1
      const self = prober.bare().equals(owner);
      // RFC 6121 §4.3.2: only entities subscribed to the owner's presence learn it; others are
      // ignored. PRIVACY: an unauthorized prober learns nothing, not even that the account exists.
      if (!self && !(await roster.isSubscribedFrom(owner, prober.bare()))) return;
      const avail = availableSessions(core, owner);
      if (avail.length === 0) {
        // RFC 6121 §4.3.2: no available resource: unavailable from the bare JID
        await core.route(unavailableFrom(owner, prober));
        return;
      }
      for (const s of avail) if (s.presence) await core.route(addressed(s.presence, prober));
    };

    // ---- RFC 6121 §4.2, §4.4, §4.5: presence broadcasts from the client ----

    const available = async (session: Session, stanza: Element): Promise<void> => {
      const priority = parsePriority(stanza);
      if (priority === undefined) {
        // RFC 6121 §4.7.2.3: priority is an integer in -128..127
        core.deliver(session, errorReply(stanza, new StanzaError("bad-request", "priority must be an integer from -128 to 127")));
        return;
      }
      const full = session.fullJid;
      const user = full.bare();
      const initial = !session.available;
      const p = stanza.clone();
      delete p.attrs.to;
      p.attrs.from = full.toString();
      session.presence = p;
      session.priority = priority;
      // RFC 6121 §4.2.2 / §4.4.2: to subscribed contacts and the user's available resources
      await broadcastPresence(core, roster, user, p);
      if (!initial) return;
      // RFC 6121 §4.2.2: the new resource learns about the user's other available resources
      for (const s of availableSessions(core, user)) {
        if (s !== session && s.presence) core.deliver(session, addressed(s.presence, full));
      }
      // RFC 6121 §4.3.1: probe the contacts the user is subscribed to (answers come to this resource)
      for (const contact of await roster.subscriptions(user)) {
        await core.route(x("presence", { xmlns: "jabber:client", type: "probe", from: full.toString(), to: contact }));
      }
      // RFC 6121 §3.1.3: subscription requests still waiting for an answer
      for (const req of await roster.pendingRequests(user)) core.deliver(session, req);
      await core.events.emit("session/available", { session });
    };

    const unavailable = async (session: Session, stanza: Element): Promise<void> => {
      const full = session.jid;
      if (!full) return;
      const user = full.bare();
      const wasAvailable = session.available;
      const p = stanza.clone();
      delete p.attrs.to;
      p.attrs.from = full.toString();
      session.presence = undefined;
      session.priority = 0;
      let sent = new Set<string>();
      // RFC 6121 §4.5.2: to subscribed contacts and the user's available resources (this one too)
      if (wasAvailable) sent = await broadcastPresence(core, roster, user, p, [session]);
      // RFC 6121 §4.6.3: and to every entity that got directed presence and was not told yet
      const st = state(session);
      for (const target of st.directed) {
        const bare = target.split("/")[0]!;
        if (sent.has(bare)) continue;
        await core.route(addressed(p, target));
      }
      st.directed.clear();
    };

    // ---- wiring ----

    /** Runs a handler; failures are logged (never the stanza) and reported to the sending client. */
    const guarded = async (ev: StanzaEvent, fn: () => Promise<void>): Promise<true> => {
      try {
        await fn();
      } catch (err) {
        if (err instanceof StanzaError) {
          if (ev.origin && ev.stanza.attrs.type !== "error") core.deliver(ev.origin, errorReply(ev.stanza, err));
        } else {
          log.error({ err: errorSummary(err) }, "presence handling failed");
        }
      }
      return true;
    };

    // Outbound: subscription stanzas and directed presence from a local client, before routing.
    ctx.on(
      "stanza/outgoing",
      async (ev) => {
        if (ev.stanza.name !== "presence" || !ev.origin) return false;
        const type = ev.stanza.attrs.type;
        if (isSubscriptionType(type)) return guarded(ev, () => outboundSubscription(ev, type));
        if (type === undefined) state(ev.origin).directed.add(ev.to.toString()); // RFC 6121 §4.6.2
        else if (type === "unavailable") state(ev.origin).directed.delete(ev.to.toString());
        return false;
      },
      -50,
    );

    ctx.on(
      "presence/broadcast",
      (ev) =>
        guarded(ev, async () => {
          const type = ev.stanza.attrs.type;
          if (!ev.origin) return;
          if (type === undefined) await available(ev.origin, ev.stanza);
          else if (type === "unavailable") await unavailable(ev.origin, ev.stanza);
          // other types without 'to' mean nothing (RFC 6121 §4.2.1): dropped
        }),
      -100,
    );

    // Inbound to a local bare JID (RFC 6121 §8.5.2.1.3 / §8.5.2.2.3 for presence)
    const toBare = async (ev: StanzaEvent): Promise<void> => {
      const type = ev.stanza.attrs.type;
      if (isSubscriptionType(type)) return inboundSubscription(ev, type);
      if (type === "probe") return probe(ev);
      // RFC 6121 §8.5.1: presence to an account that does not exist is silently ignored. An
      // account with sessions exists, so storage is asked only otherwise (keeps presence
      // broadcasts, one stanza per contact, off the database)
      if (!(await core.accountExists(ev.to))) return;
      // available, unavailable, error: every available resource (none: dropped)
      if (type === undefined || type === "unavailable" || type === "error") deliverToAvailable(ev.to, ev.stanza);
    };
    ctx.on("presence/bare", (ev) => guarded(ev, () => toBare(ev)), -100);

    // Inbound to a local full JID (RFC 6121 §8.5.3)
    ctx.on(
      "presence/full",
      (ev) =>
        guarded(ev, async () => {
          const type = ev.stanza.attrs.type;
          // RFC 6121 §8.5.3.1 / §8.5.3.2.1: subscription stanzas and probes are handled for the bare JID
          if (isSubscriptionType(type) || type === "probe") return toBare({ ...ev, to: ev.to.bare() });
          const s = core.sessionFor(ev.to);
          // RFC 6121 §8.5.3.1: to the connected resource; §8.5.3.2.2: no such resource: ignored
          if (s) core.deliver(s, ev.stanza);
        }),
      -100,
    );

    // RFC 6121 §4.5.2: a session that ends without unavailable presence gets one sent for it
    ctx.on("session/closed", async ({ session }) => {
      const st = session.data.get(ctx.name) as PresenceSessionState | undefined;
      if (!session.jid || (!session.available && !st?.directed.size)) return;
      try {
        await unavailable(session, x("presence", { xmlns: "jabber:client", type: "unavailable" }));
      } catch (err) {
        log.error({ err: errorSummary(err) }, "unavailable broadcast failed");
      }
    });
  },
});
