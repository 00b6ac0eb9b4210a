// Stream management (XEP-0198, urn:xmpp:sm:3): acks in both directions, the queue of stanzas the
// client has not acknowledged, and the state a resumed session takes over. Counters wrap at 2^32
// (XEP-0198 §5 "h" is an unsigned 32-bit integer).
import { randomBytes } from "node:crypto";
import type { Element } from "../xml/element.js";

export const NS_SM = "urn:xmpp:sm:3";

const MOD = 2 ** 32;

/** Per-session stream management state. */
export class StreamManagement {
  /** The SM-ID (XEP-0198 §5), set when resumption was granted. */
  readonly id: string | undefined;
  readonly resumable: boolean;
  /** Stanzas received from the client and fully handled (XEP-0198 §4 'h' we report). */
  handledIn = 0;
  /** Stanzas sent to the client (their sequence numbers end here). */
  sentOut = 0;
  /** Sent stanzas not yet acknowledged, oldest first; the last has number `sentOut`. */
  queue: Element[] = [];
  /** An <r/> is outstanding. */
  ackRequested = false;

  constructor(resumable: boolean) {
    this.resumable = resumable;
    this.id = resumable ? randomBytes(18).toString("base64url") : undefined;
  }

  /** Records a stanza written to the client. */
  sent(stanza: Element): void {
    this.queue.push(stanza);
    this.sentOut = (this.sentOut + 1) % MOD;
  }

  /** Records one handled inbound stanza. */
  handled(): void {
    this.handledIn = (this.handledIn + 1) % MOD;
  }

  /**
   * Applies the client's 'h' (how many of our stanzas it handled). Returns false when h claims
   * more than we sent (XEP-0198 §4: handled-count-too-high).
   */
  acknowledge(h: number): boolean {
    const unacked = this.queue.length;
    // number of queued stanzas the client confirms: h counts all stanzas ever sent
    const confirmed = (h - (this.sentOut - unacked) + MOD) % MOD;
    if (confirmed > unacked) return false;
    this.queue.splice(0, confirmed);
    this.ackRequested = false;
    return true;
  }

  /** Takes the unacknowledged stanzas (they are then no longer this session's to deliver). */
  drain(): Element[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }
}

/** Parses an 'h' attribute: an unsigned 32-bit integer. */
export function parseH(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n < MOD ? n : undefined;
}
