// Offline messages (XEP-0160, RFC 6121 §8.5.2.2.1): chat/normal messages for an account with no
// available resource are stored and delivered, with a XEP-0203 delay, at the next initial presence.
// Honours the XEP-0334 <no-store/> and <store/> hints.
import { defineModule, archive } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import type { Session } from "../../core/session.js";
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { StreamParser } from "../../xml/parser.js";
import { offlinePortable } from "./portable.js";

/** XEP-0334 message processing hints. */
export const NS_HINTS = "urn:xmpp:hints";
/** XEP-0384 (OMEMO, as deployed): an encrypted payload has no <body/> a server could see. */
export const NS_OMEMO = "eu.siacs.conversations.axolotl";
/** XEP-0160 §4: the disco feature announcing offline storage. */
export const FEATURE_MSGOFFLINE = "msgoffline";

/** Messages read from storage per round while flushing (bounds memory for a full queue). */
const FLUSH_BATCH = 100;

/**
 * Whether a message that reached offline handling is worth storing:
 * - never with a XEP-0334 §4.3 <no-store/> hint (the sender then gets service-unavailable,
 *   RFC 6121 §8.5.2.2.1, as when no storage exists);
 * - only chat and normal messages (XEP-0160 §3; groupchat, headline and error are never stored);
 * - with a <body/>, an OMEMO <encrypted/> payload (it replaces the body), or a XEP-0334 §4.4
 *   <store/> hint (senders use it for receipts and markers they want kept);
 * - so a message carrying only XEP-0085 chat states is not stored (XEP-0160 §3).
 */
export function shouldStore(stanza: Element): boolean {
  if (stanza.getChild("no-store", NS_HINTS)) return false;
  const t = stanza.attrs.type;
  if (t === "groupchat" || t === "headline" || t === "error") return false;
  if (stanza.getChild("body", stanza.ns || NS.CLIENT)) return true;
  if (stanza.getChild("encrypted", NS_OMEMO)) return true;
  return stanza.getChild("store", NS_HINTS) !== undefined;
}

/** Parses one serialized stanza (as stored) back into an element; undefined if it does not parse. */
export function parseStoredStanza(xml: string): Element | undefined {
  let out: Element | undefined;
  let failed = false;
  const p = new StreamParser(
    {
      streamStart: () => {},
      stanza: (el) => {
        if (out === undefined) out = el;
        else failed = true;
      },
      streamEnd: () => {},
      error: () => {
        failed = true;
      },
    },
    // what we stored passed the stream limits once; the size check is only a guard here
    { mode: "fragments", maxStanzaSize: xml.length + 1024, maxDepth: 64 },
  );
  p.write(xml);
  p.end();
  return failed ? undefined : out;
}

/** A copy of a stored message with its XEP-0203 delay (XEP-0160 §2: "Offline Storage"). */
export function withDelay(stanza: Element, domain: string, when: number): Element {
  const out = stanza.clone();
  out.append(x("delay", { xmlns: NS.DELAY, from: domain, stamp: new Date(when).toISOString() }, "Offline Storage"));
  return out;
}

/** The part of the blocking module's service this module uses (modules share services, not code). */
interface BlockingCheck {
  isBlocked(owner: Jid, other: Jid): Promise<boolean>;
}

/** The "offline" service: for stream management, which may hand unacknowledged messages back. */
export interface OfflineService {
  /** Stores a message for an account as if it had arrived while the account was offline; false if not storable. */
  store(owner: Jid, from: Jid, stanza: Element): Promise<boolean>;
  /** Delivers and deletes an account's stored messages to a session. Returns how many were delivered. */
  flush(session: Session): Promise<number>;
}

export const offlineModule = defineModule({
  name: "offline",
  specs: ["XEP-0160", "XEP-0203", "XEP-0334 (no-store, store)", "RFC 6121 §8.5.2.2.1"],
  after: ["message"],
  disco: { features: [FEATURE_MSGOFFLINE] },
  stores: (config) => ({
    offline: archive({
      owner: "account",
      purpose: "Messages sent to you while you were offline, until you come back online",
      retention: { kind: "duration", ms: config.offline.retentionDays * 86_400_000 },
      export: true,
    }),
  }),
  setup(ctx) {
    const core = ctx.core;
    const store = ctx.stores.offline;
    const max = ctx.config.offline.maxPerAccount;

    // One operation per account at a time: the cap check and the append must not interleave, and
    // two resources coming online together must not both deliver the same messages.
    const locks = new Map<string, Promise<unknown>>();
    const locked = <T>(owner: string, fn: () => Promise<T>): Promise<T> => {
      const prev = locks.get(owner) ?? Promise.resolve();
      const run = prev.then(fn, fn);
      const tail = run.catch(() => {});
      locks.set(owner, tail);
      void tail.then(() => {
        if (locks.get(owner) === tail) locks.delete(owner);
      });
      return run;
    };

    // PRIVACY: a deleted account's undelivered messages to others go with it (the policy: "your
    // messages" are deleted with the account), not only the messages waiting for it.
    ctx.on("account/deleting", async ({ jid }) => {
      for (const owner of await core.localAccounts()) {
        if (owner !== jid.bareString) await locked(owner, () => store.delete(owner, { with: jid.bareString }));
      }
    });

    const storeMessage = (owner: Jid, from: Jid, stanza: Element): Promise<boolean> => {
      if (!shouldStore(stanza)) return Promise.resolve(false);
      const key = owner.bareString;
      return locked(key, async () => {
        const { count = 0 } = await store.query(key, { limit: 0 });
        // XEP-0160 §2 answers a full queue with service-unavailable; we say resource-constraint
        // (RFC 6120 §8.3.3.18, as offline.maxPerAccount documents): the refusal is temporary
        if (count >= max) throw new StanzaError("resource-constraint", "The recipient's offline storage is full");
        await store.append(key, { with: from.bareString, value: stanza.toString() });
        return true;
      });
    };

    /**
     * Delivers an account's stored messages to `session`, oldest first, each with a XEP-0203 delay,
     * and deletes each batch once written. Kept small on purpose: with stream management, deletion
     * may move to the acknowledgement of the delivered stanzas.
     */
    const flushOffline = (session: Session): Promise<number> => {
      const owner = session.bareJid.bareString;
      return locked(owner, async () => {
        const blocking = ctx.use<BlockingCheck>("blocking");
        let delivered = 0;
        for (;;) {
          const { items } = await store.query(owner, { limit: FLUSH_BATCH });
          if (items.length === 0) break;
          // a session that closed meanwhile keeps the rest for the next one
          if (!session.jid || core.sessionFor(session.jid) !== session) break;
          for (const item of items) {
            const stanza = typeof item.value === "string" ? parseStoredStanza(item.value) : undefined;
            if (!stanza) {
              ctx.log.warn({ user: owner, id: item.id }, "unreadable offline message dropped");
              continue;
            }
            const from = stanza.attrs.from;
            // XEP-0191 §3.3: nothing from a contact blocked since the message was stored
            const sender = from ? tryParseJid(from) : undefined;
            if (blocking && sender && (await blocking.isBlocked(session.bareJid, sender))) continue;
            core.deliver(session, withDelay(stanza, session.host || core.defaultHost, item.when));
            delivered++;
          }
          await store.delete(owner, { ids: items.map((i) => i.id) });
        }
        if (delivered > 0) ctx.log.debug({ user: owner, count: delivered }, "offline messages delivered");
        return delivered;
      });
    };

    // RFC 6121 §8.5.2.2.1: no available resource: store (returning true) or let the core answer
    ctx.on("message/offline", async (ev) => storeMessage(ev.to.bare(), ev.from, ev.stanza));

    // XEP-0160 §2: delivery at the next initial presence with non-negative priority
    // (RFC 6121 §8.5.2.1.1: negative priority resources never get messages sent to the bare JID)
    ctx.on("session/available", async ({ session }) => {
      if (session.priority < 0 || !session.jid) return;
      try {
        await flushOffline(session);
      } catch (err) {
        ctx.log.error({ user: session.bareJid.bareString, err: err instanceof Error ? err.message : String(err) }, "offline delivery failed");
      }
    });

    ctx.provide<OfflineService>("offline", { store: storeMessage, flush: flushOffline });
    // XEP-0227: stored messages in the account's export and import
    ctx.portable(offlinePortable(store));
  },
});
