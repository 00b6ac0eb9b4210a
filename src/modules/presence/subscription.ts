// The presence subscription state machine of RFC 6121 §3 and Appendix A as pure functions: how
// the user's server handles outbound subscription stanzas (A.2) and the contact's server inbound
// ones (A.3), with subscription pre-approval (RFC 6121 §3.4).
import type { Subscription } from "../roster/types.js";

/** A subscription-related presence type (RFC 6121 §3). */
export type SubscriptionType = "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed";

export function isSubscriptionType(t: string | undefined): t is SubscriptionType {
  return t === "subscribe" || t === "subscribed" || t === "unsubscribe" || t === "unsubscribed";
}

/** The subscription state of one contact in one roster (RFC 6121 Appendix A.1), plus the pre-approval flag. */
export interface SubState {
  subscription: Subscription;
  /** "Pending Out": the user asked for the contact's presence. */
  pendingOut: boolean;
  /** "Pending In": the contact asked for the user's presence. */
  pendingIn: boolean;
  /** RFC 6121 §3.4: the user pre-approved a subscription from the contact. */
  approved: boolean;
}

/** The state of a contact that is not in the roster (RFC 6121 Appendix A.1: "None"). */
export const NONE: SubState = { subscription: "none", pendingOut: false, pendingIn: false, approved: false };

/** The nine state names of RFC 6121 Appendix A.1. */
export type StateName =
  | "None"
  | "None + Pending Out"
  | "None + Pending In"
  | "None + Pending Out/In"
  | "To"
  | "To + Pending In"
  | "From"
  | "From + Pending Out"
  | "Both";

/** The Appendix A.1 name of a state (the approved flag is not part of the name). */
export function stateName(s: SubState): StateName {
  switch (s.subscription) {
    case "none":
      return s.pendingOut && s.pendingIn ? "None + Pending Out/In" : s.pendingOut ? "None + Pending Out" : s.pendingIn ? "None + Pending In" : "None";
    case "to":
      return s.pendingIn ? "To + Pending In" : "To";
    case "from":
      return s.pendingOut ? "From + Pending Out" : "From";
    case "both":
      return "Both";
  }
}

/** The state an Appendix A.1 name stands for (approved = false unless given). */
export function fromName(name: StateName, approved = false): SubState {
  const [base, pending] = name.split(" + ") as [string, string | undefined];
  const subscription = base.toLowerCase() as Subscription;
  return {
    subscription,
    pendingOut: pending === "Pending Out" || pending === "Pending Out/In",
    pendingIn: pending === "Pending In" || pending === "Pending Out/In",
    approved,
  };
}

const hasTo = (s: SubState) => s.subscription === "to" || s.subscription === "both";
const hasFrom = (s: SubState) => s.subscription === "from" || s.subscription === "both";

function withTo(s: SubState, on: boolean): Subscription {
  const from = hasFrom(s);
  return on ? (from ? "both" : "to") : from ? "from" : "none";
}

function withFrom(s: SubState, on: boolean): Subscription {
  const to = hasTo(s);
  return on ? (to ? "both" : "from") : to ? "to" : "none";
}

/** What the user's server does with an outbound subscription stanza (RFC 6121 Appendix A.2). */
export interface OutboundResult {
  /** Whether the stanza is routed to the contact ("ROUTE?" column). */
  route: boolean;
  next: SubState;
  /**
   * Presence the user's server then sends from each of the user's available resources to the
   * contact: their current presence when a subscription was just granted (RFC 6121 §3.1.5),
   * unavailable when it was cancelled (sent before the routed stanza, RFC 6121 §3.2.2).
   */
  sendPresence?: "available" | "unavailable";
}

/** What the contact's server does with an inbound subscription stanza (RFC 6121 Appendix A.3). */
export interface InboundResult {
  /** Whether the stanza is delivered to the contact's available resources ("DELIVER?" column). */
  deliver: boolean;
  next: SubState;
  /** RFC 6121 §3.1.3: the server answers on the contact's behalf. */
  autoReply?: "subscribed";
  /** As in {@link OutboundResult.sendPresence}, from the receiving account's resources to the sender. */
  sendPresence?: "available" | "unavailable";
}

/** The user's server processing an outbound subscription stanza (RFC 6121 Appendix A.2, §3.4). */
export function outbound(type: SubscriptionType, s: SubState): OutboundResult {
  switch (type) {
    case "subscribe":
      // A.2.1 (RFC 6121 §3.1.2): always routed; "Pending Out" is added unless already subscribed
      return { route: true, next: hasTo(s) ? s : { ...s, pendingOut: true } };
    case "unsubscribe":
      // A.2.2 (RFC 6121 §3.3.2): always routed; the 'to' part and any pending request go
      return { route: true, next: { ...s, subscription: withTo(s, false), pendingOut: false } };
    case "subscribed":
      if (s.pendingIn) {
        // A.2.3 (RFC 6121 §3.1.5): approval of a pending request
        return {
          route: true,
          next: { ...s, subscription: withFrom(s, true), pendingIn: false, approved: false },
          sendPresence: "available",
        };
      }
      if (hasFrom(s)) return { route: false, next: s }; // A.2.3: already subscribed
      // A.2.3 [footnote] / RFC 6121 §3.4.2: a pre-approval, not routed
      return { route: false, next: { ...s, approved: true } };
    case "unsubscribed":
      if (hasFrom(s)) {
        // A.2.4 (RFC 6121 §3.2.2): cancelling a granted subscription; unavailable goes first
        return { route: true, next: { ...s, subscription: withFrom(s, false), approved: false }, sendPresence: "unavailable" };
      }
      if (s.pendingIn) {
        // A.2.4 (RFC 6121 §3.2.2): denying a pending request
        return { route: true, next: { ...s, pendingIn: false, approved: false } };
      }
      // A.2.4: not routed; RFC 6121 §3.2.2 item 2: a pre-approval is cancelled
      return { route: false, next: s.approved ? { ...s, approved: false } : s };
  }
}

/** The contact's server processing an inbound subscription stanza (RFC 6121 Appendix A.3, §3.4). */
export function inbound(type: SubscriptionType, s: SubState): InboundResult {
  switch (type) {
    case "subscribe":
      // A.3.1 "no *" rows / RFC 6121 §3.1.3: already subscribed: answer subscribed, do not deliver
      if (hasFrom(s)) return { deliver: false, next: s, autoReply: "subscribed" };
      if (s.approved) {
        // RFC 6121 §3.4: pre-approved: approve on the contact's behalf
        return {
          deliver: false,
          next: { ...s, subscription: withFrom(s, true), pendingIn: false, approved: false },
          autoReply: "subscribed",
          sendPresence: "available",
        };
      }
      // A.3.1: a new request is delivered and kept pending; a repeated one is not delivered again
      if (s.pendingIn) return { deliver: false, next: s };
      return { deliver: true, next: { ...s, pendingIn: true } };
    case "unsubscribe":
      // A.3.2 (RFC 6121 §3.3.3): the sender no longer wants (or no longer asks for) our presence
      if (hasFrom(s)) return { deliver: true, next: { ...s, subscription: withFrom(s, false) }, sendPresence: "unavailable" };
      if (s.pendingIn) return { deliver: true, next: { ...s, pendingIn: false } };
      return { deliver: false, next: s };
    case "subscribed":
      // A.3.3 (RFC 6121 §3.1.6): only an approval we asked for counts
      if (s.pendingOut && !hasTo(s)) return { deliver: true, next: { ...s, subscription: withTo(s, true), pendingOut: false } };
      return { deliver: false, next: s };
    case "unsubscribed":
      // A.3.4 (RFC 6121 §3.2.3): a denial or cancellation of our subscription or request
      if (hasTo(s) || s.pendingOut) return { deliver: true, next: { ...s, subscription: withTo(s, false), pendingOut: false } };
      return { deliver: false, next: s };
  }
}
