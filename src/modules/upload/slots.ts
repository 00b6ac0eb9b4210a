// Upload slots (XEP-0363 §4): what a client may PUT, authenticated by an HMAC over every field of
// the slot so that the GET URL alone never grants an upload; single use, and expiring.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** One granted slot, kept in memory until it is used or expires. */
export interface Slot {
  /** Random id, the path segment of both URLs (24 base64url characters, 144 bits). */
  id: string;
  /** The uploader's bare JID. */
  owner: string;
  filename: string;
  size: number;
  /** The media type essence the client announced, or "" when it gave none. */
  contentType: string;
  /** Expiry of the PUT URL, ms since the epoch. */
  expires: number;
}

/** Shape of a slot id (randomBytes(18) in base64url). */
export const SLOT_ID = /^[A-Za-z0-9_-]{24}$/;

/** A new unguessable slot id (XEP-0363 §11: long random parts in URLs). */
export function newSlotId(): string {
  return randomBytes(18).toString("base64url");
}

/** Why a PUT is refused: "forbidden" (bad token, unknown or used slot) or "expired". */
export type SlotRefusal = "forbidden" | "expired";

/**
 * The slots granted and not yet used. The key is random per process and never leaves it: slots
 * live only in memory, so a restart voids pending ones (the client asks for a new slot, §6).
 */
export class SlotTable {
  private readonly key: Buffer;
  private readonly slots = new Map<string, Slot>();

  constructor(key: Buffer = randomBytes(32)) {
    this.key = key;
  }

  /** The token the PUT URL carries for a slot. */
  token(slot: Slot): string {
    const fields = [slot.id, slot.owner, slot.filename, String(slot.size), slot.contentType, String(slot.expires)];
    return createHmac("sha256", this.key).update(fields.join("\n")).digest("base64url");
  }

  /** Records a granted slot and returns its token. */
  add(slot: Slot): string {
    this.slots.set(slot.id, slot);
    return this.token(slot);
  }

  /**
   * Takes the slot for an upload (single use: it is removed whatever happens next). `expires` is
   * the expiry the URL claims, used only to tell an expired URL from an unknown or used one.
   */
  take(id: string, token: string, expiresClaim: number, now: number): Slot | SlotRefusal {
    const slot = this.slots.get(id);
    if (!slot) return Number.isFinite(expiresClaim) && expiresClaim < now ? "expired" : "forbidden";
    const want = Buffer.from(this.token(slot));
    const got = Buffer.from(token);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return "forbidden";
    this.slots.delete(id);
    if (slot.expires < now) return "expired";
    return slot;
  }

  /** Slots not yet used or expired of an owner (their sizes are reserved in quotas). */
  pending(owner: string, now: number): Slot[] {
    this.prune(now);
    return [...this.slots.values()].filter((s) => s.owner === owner);
  }

  /** Forgets expired slots. */
  prune(now: number): void {
    for (const [id, s] of this.slots) if (s.expires < now) this.slots.delete(id);
  }

  /** Voids every slot of an owner (account deletion). */
  dropOwner(owner: string): void {
    for (const [id, s] of this.slots) if (s.owner === owner) this.slots.delete(id);
  }
}
