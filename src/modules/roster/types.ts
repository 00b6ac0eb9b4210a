// The roster service other modules use (presence, later blocking, PEP, MUC): typed access to an
// account's roster items (RFC 6121 §2.1) and their subscription states (RFC 6121 §3, Appendix A).
import type { Element } from "../../xml/element.js";
import type { Jid } from "../../jid/jid.js";

/** The 'subscription' attribute of a roster item (RFC 6121 §2.1.2.5). */
export type Subscription = "none" | "to" | "from" | "both";

import type { ElementJson } from "../../xml/element-json.js";
export type { ElementJson };

/** One stored roster row: the value of the `roster` map store, keyed by the contact's bare JID. */
export interface RosterItem {
  /** Handle the user gave the contact (RFC 6121 §2.1.2.4). */
  name?: string;
  subscription: Subscription;
  /** Pending outbound subscription request (RFC 6121 §2.1.2.2, "Pending Out"). */
  ask?: "subscribe";
  /** Subscription pre-approval (RFC 6121 §3.4, §2.1.2.1). */
  approved?: boolean;
  /** An inbound subscription request awaiting the user's answer ("Pending In", RFC 6121 §3.1.3). */
  pendingIn?: boolean;
  /** The request itself, re-delivered at each initial presence until answered (RFC 6121 §3.1.3). */
  pendingStanza?: ElementJson;
  groups: string[];
  /**
   * The row only carries subscription state (an inbound request from someone not in the roster,
   * RFC 6121 Appendix A.1 "None + Pending In"); it is not shown in roster results or pushes.
   */
  hidden?: boolean;
}

/** What `update` returns: the row before and after, so callers can act on the transition. */
export interface RosterChange {
  before: RosterItem | undefined;
  after: RosterItem | undefined;
}

/** The service the roster module provides as `ctx.use<RosterService>("roster")`. */
export interface RosterService {
  /** Every item of the account's roster as the user sees it (hidden rows left out), by contact bare JID. */
  get(owner: Jid): Promise<Map<string, RosterItem>>;
  /** Every stored row, hidden ones included. */
  getAll(owner: Jid): Promise<Map<string, RosterItem>>;
  /** The stored row for a contact (possibly hidden), or undefined. */
  getItem(owner: Jid, contact: Jid | string): Promise<RosterItem | undefined>;
  /**
   * Replaces (or with undefined removes) a row, bumps the version and, when `push` is true and
   * the visible item changed, sends roster pushes to the account's interested resources.
   */
  setItem(owner: Jid, contact: Jid | string, item: RosterItem | undefined, push?: boolean): Promise<void>;
  /**
   * Read-modify-write of one row, serialized per account so concurrent changes do not lose
   * updates. `fn` must be pure (no routing inside: it runs under the account's lock).
   * Throws StanzaError not-allowed when a new row would exceed the roster size limit.
   */
  update(
    owner: Jid,
    contact: Jid | string,
    fn: (current: RosterItem | undefined) => RosterItem | undefined,
    push?: boolean,
  ): Promise<RosterChange>;
  /** The current roster version string (XEP-0237 / RFC 6121 §2.6). */
  version(owner: Jid): Promise<string>;
  /** True when the owner receives the contact's presence (subscription to/both). */
  isSubscribedTo(owner: Jid, contact: Jid | string): Promise<boolean>;
  /** True when the contact receives the owner's presence (subscription from/both). */
  isSubscribedFrom(owner: Jid, contact: Jid | string): Promise<boolean>;
  /** Bare JIDs of contacts with subscription from/both (who get the owner's presence broadcasts). */
  subscribers(owner: Jid): Promise<string[]>;
  /** Bare JIDs of contacts with subscription to/both (whom the owner probes). */
  subscriptions(owner: Jid): Promise<string[]>;
  /** Inbound subscription requests still awaiting an answer, as the stanzas to re-deliver. */
  pendingRequests(owner: Jid): Promise<Element[]>;
  /** The `<item/>` element for a row (RFC 6121 §2.1.2), or a removal item when `item` is undefined. */
  itemElement(contact: string, item: RosterItem | undefined): Element;
}
