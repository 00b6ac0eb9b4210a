// The roster service: rows of the `roster` map store, a per-account version (XEP-0237, RFC 6121
// §2.6) and roster pushes to interested resources (RFC 6121 §2.1.6).
import { randomBytes } from "node:crypto";
import { x, type Element } from "../../xml/element.js";
import type { Jid } from "../../jid/jid.js";
import type { Core } from "../../core/core.js";
import { StanzaError } from "../../core/errors.js";
import type { KvStore, MapStore } from "../../storage/types.js";
import { LIMITS, NS_ROSTER, elementFromJson, itemElement, visibleKey } from "./items.js";
import type { RosterChange, RosterItem, RosterService } from "./types.js";

/** The stored version: a random epoch (so a re-created account never repeats an old version) and a counter. */
export interface RosterVersion {
  epoch: string;
  n: number;
}

function key(contact: Jid | string): string {
  return typeof contact === "string" ? contact : contact.bareString;
}

/** Implements {@link RosterService} over the module's stores. */
export class RosterStore implements RosterService {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly items: MapStore<RosterItem>,
    private readonly versions: KvStore<RosterVersion>,
    private readonly core: Core,
  ) {}

  async get(owner: Jid): Promise<Map<string, RosterItem>> {
    const all = await this.items.getAll(owner.bareString);
    for (const [k, v] of all) if (v.hidden) all.delete(k);
    return all;
  }

  getAll(owner: Jid): Promise<Map<string, RosterItem>> {
    return this.items.getAll(owner.bareString);
  }

  getItem(owner: Jid, contact: Jid | string): Promise<RosterItem | undefined> {
    return this.items.get(owner.bareString, key(contact));
  }

  async setItem(owner: Jid, contact: Jid | string, item: RosterItem | undefined, push = true): Promise<void> {
    await this.update(owner, contact, () => item, push);
  }

  update(
    owner: Jid,
    contact: Jid | string,
    fn: (current: RosterItem | undefined) => RosterItem | undefined,
    push = true,
  ): Promise<RosterChange> {
    return this.locked(owner.bareString, async () => {
      const k = key(contact);
      const before = await this.items.get(owner.bareString, k);
      const after = fn(before === undefined ? undefined : structuredClone(before));
      if (JSON.stringify(before) === JSON.stringify(after)) return { before, after };
      if (!before && after) {
        const count = (await this.items.getAll(owner.bareString)).size;
        if (count >= LIMITS.maxItems) throw new StanzaError("not-allowed", "The roster is full");
      }
      await this.items.set(owner.bareString, k, after);
      if (visibleKey(before) !== visibleKey(after)) {
        const ver = await this.bump(owner);
        // RFC 6121 §2.1.6: a hidden row leaving the visible roster is pushed as a removal
        if (push) this.push(owner, k, after && !after.hidden ? after : undefined, ver);
      }
      return { before, after };
    });
  }

  async version(owner: Jid): Promise<string> {
    const v = await this.versions.get(owner.bareString);
    return v ? `${v.epoch}-${v.n}` : "0";
  }

  async isSubscribedTo(owner: Jid, contact: Jid | string): Promise<boolean> {
    const s = (await this.getItem(owner, contact))?.subscription;
    return s === "to" || s === "both";
  }

  async isSubscribedFrom(owner: Jid, contact: Jid | string): Promise<boolean> {
    const s = (await this.getItem(owner, contact))?.subscription;
    return s === "from" || s === "both";
  }

  async subscribers(owner: Jid): Promise<string[]> {
    const out: string[] = [];
    for (const [k, v] of await this.items.getAll(owner.bareString)) if (v.subscription === "from" || v.subscription === "both") out.push(k);
    return out;
  }

  async subscriptions(owner: Jid): Promise<string[]> {
    const out: string[] = [];
    for (const [k, v] of await this.items.getAll(owner.bareString)) if (v.subscription === "to" || v.subscription === "both") out.push(k);
    return out;
  }

  async pendingRequests(owner: Jid): Promise<Element[]> {
    const out: Element[] = [];
    for (const v of (await this.items.getAll(owner.bareString)).values()) {
      if (v.pendingIn && v.pendingStanza) out.push(elementFromJson(v.pendingStanza));
    }
    return out;
  }

  itemElement(contact: string, item: RosterItem | undefined): Element {
    return itemElement(contact, item);
  }

  /** Sends a roster push (RFC 6121 §2.1.6) of one item to every interested resource of the account. */
  push(owner: Jid, contact: string, item: RosterItem | undefined, ver: string): void {
    for (const s of this.core.sessionsOf(owner)) {
      if (!s.interested || !s.jid) continue;
      const iq = x(
        "iq",
        { xmlns: "jabber:client", type: "set", id: "push-" + randomBytes(6).toString("base64url"), to: s.jid.toString() },
        x("query", { xmlns: NS_ROSTER, ver }, itemElement(contact, item)),
      );
      this.core.deliver(s, iq);
    }
  }

  private async bump(owner: Jid): Promise<string> {
    const cur = await this.versions.get(owner.bareString);
    const next: RosterVersion = cur ? { epoch: cur.epoch, n: cur.n + 1 } : { epoch: randomBytes(4).toString("hex"), n: 1 };
    await this.versions.set(owner.bareString, next);
    return `${next.epoch}-${next.n}`;
  }

  /** Runs fn after every earlier locked call for the same account has settled. */
  private locked<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(owner) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(owner, tail);
    void tail.then(() => {
      if (this.locks.get(owner) === tail) this.locks.delete(owner);
    });
    return run;
  }
}
