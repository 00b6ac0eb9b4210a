// Personal eventing (XEP-0163) on a subset of publish-subscribe (XEP-0060): publish with
// auto-create and publish-options (XEP-0223), retract, items, node configuration, delete, purge,
// affiliations; notifications by +notify interests learned from entity capabilities (XEP-0115).
import { randomBytes } from "node:crypto";
import { defineModule, kv, archive, type IqRequest } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import type { Session } from "../../core/session.js";
import { errorSummary } from "../../core/session.js";
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { fromJson, toJson, type ElementJson } from "../../xml/element-json.js";
import type { ArchiveStore, KvStore } from "../../storage/types.js";
import type { RosterService } from "../roster/types.js";
import {
  FORM_NODE_CONFIG,
  NS_PUBSUB,
  NS_PUBSUB_ERRORS,
  NS_PUBSUB_EVENT,
  NS_PUBSUB_OWNER,
  applyFields,
  checkPublishOptions,
  configForm,
  defaultConfig,
  itemLimit,
  parseForm,
  type NodeConfig,
} from "./config.js";
import { featuresOf, parseCaps, verifyCaps, type Caps } from "./caps.js";
import type { PepItem, PepService, PublishEvent, RetractEvent } from "./types.js";
import { nodesFromElements, nodesToElements, type PortableNode } from "./portable.js";

/** XEP-0060 §4.1 affiliations a PEP owner can grant. */
const AFFILIATIONS = ["owner", "publisher", "member", "none", "outcast"] as const;
type Affiliation = (typeof AFFILIATIONS)[number];

/** One node as stored in `pep_nodes` (keyed by node name within the account's value). */
interface NodeRecord {
  config: NodeConfig;
  /** Bare JID → affiliation, as the owner set them (XEP-0060 §8.9); the owner is implicit. */
  affiliations: Record<string, Affiliation>;
  created: number;
}
type Nodes = Record<string, NodeRecord>;

/** What `pep_items` stores per item. */
interface StoredItem {
  node: string;
  id: string;
  payload: ElementJson;
}

/** Per-session state (in `session.data`): the capabilities the client advertises. */
interface CapsState {
  key: string | undefined;
  /** Verified features, undefined while unknown. */
  features: Set<string> | undefined;
}

/** Verified capabilities kept in memory (PRIVACY: hash → features of client software, no personal data). */
const CAPS_CACHE_SIZE = 5000;
const NODE_CACHE_SIZE = 10_000;
const DISCO_TIMEOUT_MS = 10_000;

/** Archive ids are unique per account; items are unique per node, so the id carries the node. */
const storedId = (node: string, id: string) => `${node.length}:${node}:${id}`;

const pubsubError = (condition: ConstructorParameters<typeof StanzaError>[0], app: string, attrs: Record<string, string> = {}) =>
  new StanzaError(condition, undefined, { app: x(app, { xmlns: NS_PUBSUB_ERRORS, ...attrs }) });

/** Features of an account's bare JID (XEP-0163 §6.1, XEP-0060 §10). */
export const PEP_FEATURES = [
  "access-open",
  "access-presence",
  "access-roster",
  "access-whitelist",
  "auto-create",
  "auto-subscribe",
  "config-node",
  "create-and-configure",
  "create-nodes",
  "delete-items",
  "delete-nodes",
  "filtered-notifications",
  "item-ids",
  "last-published",
  "manage-affiliations",
  "modify-affiliations",
  "multi-items",
  "outcast-affiliation",
  "persistent-items",
  "presence-notifications",
  "publish",
  "publish-options",
  "purge-nodes",
  "retract-items",
  "retrieve-default",
  "retrieve-items",
].map((f) => `${NS_PUBSUB}#${f}`);

export const pepModule = defineModule({
  name: "pep",
  specs: ["XEP-0163", "XEP-0060 (PEP subset)", "XEP-0223", "XEP-0115 (client capabilities)"],
  after: ["roster"],
  disco: {
    accountIdentities: [{ category: "pubsub", type: "pep" }],
    accountFeatures: [NS_PUBSUB, ...PEP_FEATURES],
  },
  stores: {
    pep_nodes: kv({
      owner: "account",
      purpose:
        "The personal eventing nodes your clients created (avatar, encryption keys, bookmarks, …): who may read each one and how many items it keeps, including the addresses you allowed on restricted nodes",
      retention: { kind: "lifetime" },
      export: true,
    }),
    pep_items: archive({
      owner: "account",
      purpose:
        "What your clients publish for your contacts or your other devices: your avatar, public encryption (OMEMO) keys, your vCard4 card, bookmarks and similar, until you replace or delete them",
      retention: { kind: "lifetime" },
      export: true,
    }),
  },
  setup(ctx) {
    const core = ctx.core;
    const log = ctx.log;
    const nodesStore = ctx.stores.pep_nodes as KvStore<Nodes>;
    const itemsStore = ctx.stores.pep_items as ArchiveStore<StoredItem>;
    const maxItems = ctx.config.pep.maxItems;
    const maxNodes = ctx.config.pep.maxNodes;
    const roster = () => ctx.use<RosterService>("roster");

    // ---- storage, serialized per account ----

    const locks = new Map<string, Promise<unknown>>();
    const locked = <T>(owner: string, fn: () => Promise<T>): Promise<T> => {
      const prev = locks.get(owner) ?? Promise.resolve();
      const run = prev.then(fn, fn);
      const tail = run.catch(() => undefined);
      locks.set(owner, tail);
      void tail.then(() => {
        if (locks.get(owner) === tail) locks.delete(owner);
      });
      return run;
    };

    const nodeCache = new Map<string, Nodes>();
    const loadNodes = async (owner: string): Promise<Nodes> => {
      const hit = nodeCache.get(owner);
      if (hit) return hit;
      const n = (await nodesStore.get(owner)) ?? {};
      if (nodeCache.size >= NODE_CACHE_SIZE) nodeCache.delete(nodeCache.keys().next().value!);
      nodeCache.set(owner, n);
      return n;
    };
    const saveNodes = async (owner: string, nodes: Nodes): Promise<void> => {
      nodeCache.delete(owner);
      await nodesStore.set(owner, Object.keys(nodes).length === 0 ? undefined : nodes);
    };

    const readItems = async (owner: Jid, node: string, opts: { ids?: string[]; max?: number } = {}): Promise<PepItem[]> => {
      const r = await itemsStore.query(owner.bareString, {
        with: node,
        ids: opts.ids?.map((i) => storedId(node, i)),
        limit: opts.max,
        reverse: opts.max !== undefined,
      });
      return r.items.map((i) => ({ id: i.value.id, payload: fromJson(i.value.payload), when: i.when }));
    };

    // ---- who receives what ----

    const capsOf = (s: Session): CapsState | undefined => s.data.get(ctx.name) as CapsState | undefined;
    const wantsNotify = (s: Session, node: string) => s.available && capsOf(s)?.features?.has(`${node}+notify`) === true;

    const affiliationOf = (rec: NodeRecord, owner: Jid, who: Jid): Affiliation =>
      who.bare().equals(owner) ? "owner" : (rec.affiliations[who.bareString] ?? "none");

    /** XEP-0060 §6.5.x: why `who` may not read the node, or undefined when it may. */
    const accessError = async (owner: Jid, rec: NodeRecord, who: Jid): Promise<StanzaError | undefined> => {
      const aff = affiliationOf(rec, owner, who);
      if (aff === "outcast") return new StanzaError("forbidden"); // XEP-0060 §6.5.9.x outcast
      if (aff === "owner" || aff === "publisher" || aff === "member") return undefined;
      const model = rec.config.access_model;
      if (model === "open") return undefined;
      if (model === "whitelist") return pubsubError("not-allowed", "closed-node"); // XEP-0060 §6.5.9.8
      const item = await roster()?.getItem(owner, who.bare());
      const subscribed = item?.subscription === "from" || item?.subscription === "both";
      if (model === "presence") return subscribed ? undefined : pubsubError("not-authorized", "presence-subscription-required"); // §6.5.9.6
      // roster: the contact must be in an allowed group (XEP-0060 §6.5.9.7)
      const allowed = rec.config.roster_groups_allowed;
      const inGroup = item !== undefined && !item.hidden && item.groups.some((g) => allowed.includes(g));
      return inGroup ? undefined : pubsubError("not-authorized", "not-in-roster-group");
    };

    /**
     * XEP-0163 §4.3: notifications go to the owner's resources and to the contacts allowed by the
     * access model, each resource only if it advertises <node>+notify (filtered notifications).
     */
    const recipients = async (owner: Jid, node: string, rec: NodeRecord): Promise<Session[]> => {
      const out: Session[] = core.sessionsOf(owner).filter((s) => wantsNotify(s, node));
      const candidates = new Set<string>();
      const model = rec.config.access_model;
      if (model !== "whitelist") for (const c of (await roster()?.subscribers(owner)) ?? []) candidates.add(c);
      for (const [j, aff] of Object.entries(rec.affiliations)) if (aff === "member" || aff === "publisher" || aff === "owner") candidates.add(j);
      for (const c of candidates) {
        const contact = tryParseJid(c);
        if (!contact || contact.equals(owner)) continue;
        const sessions = core.sessionsOf(contact).filter((s) => wantsNotify(s, node));
        if (sessions.length === 0) continue;
        if (await accessError(owner, rec, contact)) continue;
        out.push(...sessions);
      }
      return out;
    };

    const eventMessage = (owner: Jid, to: Jid, payload: Element): Element =>
      x("message", { xmlns: NS.CLIENT, type: "headline", from: owner.bareString, to: to.toString(), id: randomBytes(9).toString("base64url") }, x("event", { xmlns: NS_PUBSUB_EVENT }, payload));

    const itemElement = (item: { id: string; payload: Element }) => x("item", { id: item.id }, item.payload.clone());

    const notify = async (owner: Jid, node: string, rec: NodeRecord, payload: Element): Promise<void> => {
      for (const s of await recipients(owner, node, rec)) {
        if (!s.jid) continue;
        try {
          await core.route(eventMessage(owner, s.jid, payload.clone()));
        } catch (err) {
          log.warn({ err: errorSummary(err) }, "pep notification failed");
        }
      }
    };

    // ---- operations ----

    const publishListeners: ((e: PublishEvent) => Promise<void> | void)[] = [];
    const retractListeners: ((e: RetractEvent) => Promise<void> | void)[] = [];
    const fire = async <E>(list: ((e: E) => Promise<void> | void)[], e: E): Promise<void> => {
      for (const fn of list) {
        try {
          await fn(e);
        } catch (err) {
          log.warn({ err: errorSummary(err) }, "pep listener failed");
        }
      }
    };

    /** Creates the node when needed, stores the item, trims to max_items; returns the node record. */
    const store = async (owner: Jid, node: string, id: string, payload: Element, configFor: (existing: NodeConfig | undefined) => NodeConfig): Promise<NodeRecord> =>
      locked(owner.bareString, async () => {
        const nodes = { ...(await loadNodes(owner.bareString)) };
        let rec = nodes[node];
        const config = configFor(rec?.config);
        if (!rec) {
          // XEP-0163 §3 / XEP-0060 §7.1.4: auto-create on first publish
          if (Object.keys(nodes).length >= maxNodes) throw new StanzaError("resource-constraint", "Too many nodes");
          rec = { config, affiliations: {}, created: Date.now() };
          nodes[node] = rec;
          await saveNodes(owner.bareString, nodes);
        }
        const sid = storedId(node, id);
        // XEP-0060 §7.1.2: publishing an existing id replaces the item (it becomes the newest)
        await itemsStore.delete(owner.bareString, { ids: [sid] });
        await itemsStore.append(owner.bareString, { id: sid, with: node, value: { node, id, payload: toJson(payload) } });
        const limit = itemLimit(rec.config, maxItems);
        const { count = 0 } = await itemsStore.query(owner.bareString, { with: node, limit: 0 });
        if (count > limit) {
          const old = await itemsStore.query(owner.bareString, { with: node, limit: count - limit });
          await itemsStore.delete(owner.bareString, { ids: old.items.map((i) => i.id) });
        }
        return rec;
      });

    const publish = async (owner: Jid, node: string, item: { id?: string; payload: Element }, configFor: (existing: NodeConfig | undefined) => NodeConfig, by: string | undefined): Promise<string> => {
      const id = item.id ?? randomBytes(12).toString("base64url");
      const rec = await store(owner, node, id, item.payload, configFor);
      await notify(owner, node, rec, x("items", { node }, itemElement({ id, payload: item.payload })));
      await fire(publishListeners, { owner, node, item: { id, payload: item.payload, when: Date.now() }, by });
      return id;
    };

    const retract = async (owner: Jid, node: string, ids: string[], notifyRetract: boolean | undefined, by: string | undefined): Promise<number> => {
      const { rec, removed } = await locked(owner.bareString, async () => {
        const rec = (await loadNodes(owner.bareString))[node];
        if (!rec) throw new StanzaError("item-not-found");
        const present = await readItems(owner, node, { ids });
        const removed = present.map((i) => i.id);
        if (removed.length > 0) await itemsStore.delete(owner.bareString, { ids: removed.map((i) => storedId(node, i)) });
        return { rec, removed };
      });
      if (removed.length === 0) return 0;
      // XEP-0060 §7.2.2.1: notify="true" asks for notifications; the node config decides otherwise
      if (notifyRetract ?? rec.config.notify_retract) await notify(owner, node, rec, x("items", { node }, ...removed.map((id) => x("retract", { id }))));
      await fire(retractListeners, { owner, node, ids: removed, by });
      return removed.length;
    };

    /** Deletes a node (XEP-0060 §8.4) or only its items (purge, §8.5). */
    const removeNode = async (owner: Jid, node: string, kind: "delete" | "purge"): Promise<void> => {
      const { rec, ids } = await locked(owner.bareString, async () => {
        const nodes = { ...(await loadNodes(owner.bareString)) };
        const rec = nodes[node];
        if (!rec) throw new StanzaError("item-not-found");
        const ids = (await readItems(owner, node)).map((i) => i.id);
        await itemsStore.delete(owner.bareString, { with: node });
        if (kind === "delete") {
          delete nodes[node];
          await saveNodes(owner.bareString, nodes);
        }
        return { rec, ids };
      });
      if (kind === "purge" || rec.config.notify_delete) await notify(owner, node, rec, x(kind, { node }));
      if (ids.length > 0) await fire(retractListeners, { owner, node, ids, by: undefined });
    };

    // ---- the "last published item" (XEP-0163 §6.1.2, XEP-0060 §9.3.2) ----

    /** Sends a newly available (or newly understood) resource the last item of each node it is interested in. */
    const sendLastItems = async (session: Session): Promise<void> => {
      const full = session.jid;
      if (!full || !session.available) return;
      const user = full.bare();
      const accounts = [user.bareString, ...((await roster()?.subscriptions(user)) ?? [])];
      for (const a of accounts) {
        const owner = tryParseJid(a);
        if (!owner || !core.isLocalHost(owner.domain)) continue;
        const nodes = await loadNodes(owner.bareString);
        for (const [node, rec] of Object.entries(nodes)) {
          if (rec.config.send_last_published_item === "never" || !wantsNotify(session, node)) continue;
          if (!owner.equals(user) && (await accessError(owner, rec, user))) continue;
          const [last] = await readItems(owner, node, { max: 1 });
          if (!last) continue;
          // XEP-0060 §12.17: the stored item carries its publication time
          const msg = eventMessage(owner, full, x("items", { node }, itemElement(last)));
          msg.append(x("delay", { xmlns: NS.DELAY, stamp: new Date(last.when).toISOString(), from: owner.bareString }));
          await core.route(msg);
        }
      }
    };

    // ---- entity capabilities of clients (XEP-0115) ----

    const capsCache = new Map<string, Set<string>>();
    const pendingCaps = new Map<string, Promise<Set<string> | undefined>>();
    const capsKey = (c: Caps) => `${c.hash} ${c.ver}`;

    /** Asks the client for the disco#info behind an unknown ver and verifies it (XEP-0115 §6.2, §5.4). */
    const resolveCaps = (session: Session, caps: Caps): Promise<Set<string> | undefined> => {
      const key = capsKey(caps);
      const pending = pendingCaps.get(key);
      if (pending) return pending;
      const run = (async () => {
        const full = session.jid!;
        const iq = x("iq", { xmlns: NS.CLIENT, type: "get", from: full.domain, to: full.toString() }, x("query", { xmlns: NS.DISCO_INFO, node: `${caps.node}#${caps.ver}` }));
        const reply = await core.sendIq(iq, DISCO_TIMEOUT_MS);
        const query = reply.getChild("query", NS.DISCO_INFO);
        // XEP-0115 §5.4: an answer that does not hash to the ver is not cached (it may be forged)
        if (!query || !verifyCaps(query, caps)) {
          log.debug({ hash: caps.hash }, "caps verification failed");
          return undefined;
        }
        const features = new Set(featuresOf(query));
        if (capsCache.size >= CAPS_CACHE_SIZE) capsCache.delete(capsCache.keys().next().value!);
        capsCache.set(key, features);
        return features;
      })()
        .catch(() => undefined)
        .finally(() => pendingCaps.delete(key));
      pendingCaps.set(key, run);
      return run;
    };

    // Caps ride on the client's available presence: learn them before the presence module broadcasts.
    ctx.on(
      "presence/broadcast",
      (ev) => {
        const session = ev.origin;
        if (!session?.jid || ev.stanza.attrs.type !== undefined) return false;
        const caps = parseCaps(ev.stanza);
        const key = caps ? capsKey(caps) : undefined;
        const st = capsOf(session);
        if (st && st.key === key) return false;
        const features = key ? capsCache.get(key) : undefined;
        const next: CapsState = { key, features };
        session.data.set(ctx.name, next);
        const initial = !session.available;
        if (caps && !features) {
          void resolveCaps(session, caps).then(async (f) => {
            if (!f || capsOf(session) !== next) return;
            next.features = f;
            // XEP-0163 §6.1.2: now that interests are known, send the last items
            await sendLastItems(session);
          }).catch((err: unknown) => log.warn({ err: errorSummary(err) }, "sending last items failed"));
        } else if (!initial && features) {
          // changed interests on a later presence: send what the new interests cover
          queueMicrotask(() => void sendLastItems(session).catch((err: unknown) => log.warn({ err: errorSummary(err) }, "sending last items failed")));
        }
        return false;
      },
      20,
    );

    ctx.on("session/available", async ({ session }) => {
      if (capsOf(session)?.features) await sendLastItems(session);
    });

    // ---- IQ handlers ----

    const nodeAttr = (el: Element): string => {
      const node = el.attrs.node;
      if (node === undefined || node === "") throw pubsubError("bad-request", "nodeid-required"); // XEP-0060 §7.1.3.3
      return node;
    };
    const requireOwner = (req: IqRequest) => {
      // XEP-0163 §3: only the account publishes to and manages its PEP service
      if (!req.from.bare().equals(req.to)) throw new StanzaError("forbidden");
    };
    const getRecord = async (owner: Jid, node: string): Promise<NodeRecord> => {
      const rec = (await loadNodes(owner.bareString))[node];
      if (!rec) throw new StanzaError("item-not-found"); // XEP-0060 §6.5.9.11
      return rec;
    };

    const publishFromClient = async (req: IqRequest, pubsub: Element, publishEl: Element): Promise<Element> => {
      requireOwner(req);
      const node = nodeAttr(publishEl);
      const items = publishEl.getChildren("item", NS_PUBSUB);
      // XEP-0060 §7.1.3.6: persistent nodes need exactly one item (a single payload)
      if (items.length !== 1) throw pubsubError("bad-request", items.length === 0 ? "item-required" : "invalid-payload");
      const item = items[0]!;
      const payloads = item.elements();
      if (payloads.length !== 1) throw pubsubError("bad-request", payloads.length === 0 ? "payload-required" : "invalid-payload");
      const optionsEl = pubsub.getChild("publish-options", NS_PUBSUB)?.getChild("x", NS.DATA);
      const options = optionsEl ? parseForm(optionsEl) : undefined;
      const id = item.attrs.id !== undefined && item.attrs.id !== "" ? item.attrs.id : undefined;
      const published = await publish(req.to, node, { id, payload: payloads[0]! }, (existing) => checkPublishOptions(existing, options, maxItems), undefined);
      // XEP-0060 §7.1.2: the result names the item id
      return x("pubsub", { xmlns: NS_PUBSUB }, x("publish", { node }, x("item", { id: published })));
    };

    ctx.iq("account", "set", NS_PUBSUB, "pubsub", async (req) => {
      const pubsub = req.payload;
      const publishEl = pubsub.getChild("publish", NS_PUBSUB);
      if (publishEl) return publishFromClient(req, pubsub, publishEl);
      const retractEl = pubsub.getChild("retract", NS_PUBSUB);
      if (retractEl) {
        requireOwner(req);
        const node = nodeAttr(retractEl);
        const ids = retractEl.getChildren("item", NS_PUBSUB).map((i) => i.attrs.id ?? "");
        if (ids.length === 0 || ids.includes("")) throw pubsubError("bad-request", "item-required"); // XEP-0060 §7.2.3.3
        const n = retractEl.attrs.notify;
        const notifyFlag = n === "true" || n === "1" ? true : n === "false" || n === "0" ? false : undefined;
        await getRecord(req.to, node);
        const removed = await retract(req.to, node, ids, notifyFlag, undefined);
        if (removed === 0) throw new StanzaError("item-not-found"); // XEP-0060 §7.2.3.5
        return;
      }
      const createEl = pubsub.getChild("create", NS_PUBSUB);
      if (createEl) {
        requireOwner(req);
        const node = nodeAttr(createEl);
        const confEl = pubsub.getChild("configure", NS_PUBSUB)?.getChild("x", NS.DATA);
        const form = confEl ? parseForm(confEl) : undefined;
        if (form && form.formType !== undefined && form.formType !== FORM_NODE_CONFIG) throw new StanzaError("bad-request");
        const config = form ? applyFields(defaultConfig(), form.fields, maxItems) : defaultConfig();
        await locked(req.to.bareString, async () => {
          const nodes = { ...(await loadNodes(req.to.bareString)) };
          if (nodes[node]) throw new StanzaError("conflict"); // XEP-0060 §8.1.3.4
          if (Object.keys(nodes).length >= maxNodes) throw new StanzaError("resource-constraint", "Too many nodes");
          nodes[node] = { config, affiliations: {}, created: Date.now() };
          await saveNodes(req.to.bareString, nodes);
        });
        return;
      }
      // XEP-0163 §4: subscriptions are implicit (presence + caps); explicit ones are not offered
      const other = pubsub.elements()[0];
      throw pubsubError("feature-not-implemented", "unsupported", { feature: other?.name === "subscribe" || other?.name === "unsubscribe" ? "subscribe" : (other?.name ?? "") });
    });

    ctx.iq("account", "get", NS_PUBSUB, "pubsub", async (req) => {
      const itemsEl = req.payload.getChild("items", NS_PUBSUB);
      if (!itemsEl) throw pubsubError("feature-not-implemented", "unsupported", { feature: req.payload.elements()[0]?.name ?? "" });
      const node = nodeAttr(itemsEl);
      const rec = await getRecord(req.to, node);
      const denied = await accessError(req.to, rec, req.from);
      if (denied) throw denied;
      const ids = itemsEl.getChildren("item", NS_PUBSUB).map((i) => i.attrs.id ?? "").filter((i) => i !== "");
      const maxAttr = itemsEl.attrs.max_items;
      let max: number | undefined;
      if (maxAttr !== undefined) {
        max = /^\d{1,9}$/.test(maxAttr) ? Number(maxAttr) : NaN;
        if (!(max >= 0)) throw new StanzaError("bad-request", "max_items must be a number");
      }
      // XEP-0060 §6.5.3 all items, §6.5.7 the last N, §6.5.8 by id
      const items = ids.length > 0 ? await readItems(req.to, node, { ids }) : await readItems(req.to, node, { max });
      return x("pubsub", { xmlns: NS_PUBSUB }, x("items", { node }, ...items.map(itemElement)));
    });

    // ---- owner use cases (XEP-0060 §8), refused for everyone but the account ----

    ctx.iq("account", "get", NS_PUBSUB_OWNER, "pubsub", async (req) => {
      requireOwner(req);
      const child = req.payload.elements()[0];
      if (child?.name === "default") {
        // XEP-0060 §8.3: the default configuration
        return x("pubsub", { xmlns: NS_PUBSUB_OWNER }, x("default", null, configForm(defaultConfig())));
      }
      if (child?.name === "configure") {
        const node = nodeAttr(child);
        const rec = await getRecord(req.to, node);
        return x("pubsub", { xmlns: NS_PUBSUB_OWNER }, x("configure", { node }, configForm(rec.config)));
      }
      if (child?.name === "affiliations") {
        const node = nodeAttr(child);
        const rec = await getRecord(req.to, node);
        return x(
          "pubsub",
          { xmlns: NS_PUBSUB_OWNER },
          x("affiliations", { node }, x("affiliation", { jid: req.to.bareString, affiliation: "owner" }), ...Object.entries(rec.affiliations).map(([jid, affiliation]) => x("affiliation", { jid, affiliation }))),
        );
      }
      throw pubsubError("feature-not-implemented", "unsupported", { feature: child?.name ?? "" });
    });

    ctx.iq("account", "set", NS_PUBSUB_OWNER, "pubsub", async (req) => {
      requireOwner(req);
      const owner = req.to;
      const child = req.payload.elements()[0];
      switch (child?.name) {
        case "configure": {
          const node = nodeAttr(child);
          const formEl = child.getChild("x", NS.DATA);
          if (!formEl) throw new StanzaError("bad-request", "A configuration form is required");
          if (formEl.attrs.type === "cancel") return; // XEP-0004 §3.1: nothing changes
          const form = parseForm(formEl);
          if (form.formType !== undefined && form.formType !== FORM_NODE_CONFIG) throw new StanzaError("bad-request");
          await locked(owner.bareString, async () => {
            const nodes = { ...(await loadNodes(owner.bareString)) };
            const rec = nodes[node];
            if (!rec) throw new StanzaError("item-not-found");
            nodes[node] = { ...rec, config: applyFields(rec.config, form.fields, maxItems) };
            await saveNodes(owner.bareString, nodes);
            // a smaller max_items applies at once
            const limit = itemLimit(nodes[node]!.config, maxItems);
            const { count = 0 } = await itemsStore.query(owner.bareString, { with: node, limit: 0 });
            if (count > limit) {
              const old = await itemsStore.query(owner.bareString, { with: node, limit: count - limit });
              await itemsStore.delete(owner.bareString, { ids: old.items.map((i) => i.id) });
            }
          });
          return;
        }
        case "delete":
          await removeNode(owner, nodeAttr(child), "delete");
          return;
        case "purge":
          await removeNode(owner, nodeAttr(child), "purge");
          return;
        case "affiliations": {
          const node = nodeAttr(child);
          const changes: [string, Affiliation][] = [];
          for (const a of child.getChildren("affiliation", NS_PUBSUB_OWNER)) {
            const j = tryParseJid(a.attrs.jid ?? "");
            const aff = a.attrs.affiliation as Affiliation | undefined;
            if (!j || !aff || !AFFILIATIONS.includes(aff)) throw new StanzaError("bad-request");
            // XEP-0060 §8.9.2.4: the owner's own affiliation cannot change
            if (j.bare().equals(owner)) throw new StanzaError("not-acceptable", "The owner stays owner");
            changes.push([j.bareString, aff]);
          }
          await locked(owner.bareString, async () => {
            const nodes = { ...(await loadNodes(owner.bareString)) };
            const rec = nodes[node];
            if (!rec) throw new StanzaError("item-not-found");
            const affiliations = { ...rec.affiliations };
            for (const [j, aff] of changes) {
              if (aff === "none") delete affiliations[j];
              else affiliations[j] = aff;
            }
            nodes[node] = { ...rec, affiliations };
            await saveNodes(owner.bareString, nodes);
          });
          return;
        }
        default:
          throw pubsubError("feature-not-implemented", "unsupported", { feature: child?.name ?? "" });
      }
    });

    // ---- account deletion: other accounts' nodes forget the deleted account ----

    ctx.on("account/deleting", async ({ jid }) => {
      const gone = jid.bareString;
      nodeCache.delete(gone);
      for (const owner of await nodesStore.owners()) {
        if (owner === gone) continue;
        await locked(owner, async () => {
          const nodes = await nodesStore.get(owner);
          if (!nodes) return;
          let changed = false;
          for (const rec of Object.values(nodes)) {
            if (rec.affiliations[gone] !== undefined) {
              delete rec.affiliations[gone];
              changed = true;
            }
          }
          if (changed) await saveNodes(owner, nodes);
        });
      }
    });
    ctx.on("account/deleted", ({ jid }) => void nodeCache.delete(jid.bareString));

    // ---- export and import (XEP-0227, the nodes as Prosody's migrator writes them) ----

    ctx.portable({
      elements: [
        { name: "pubsub", ns: NS_PUBSUB_OWNER },
        { name: "pubsub", ns: NS_PUBSUB },
      ],
      // every node, with its configuration, affiliations and items: all of it is the user's
      async export(account) {
        const nodes = await loadNodes(account.bareString);
        const out: PortableNode[] = [];
        for (const [node, rec] of Object.entries(nodes)) {
          out.push({ node, config: rec.config, affiliations: { ...rec.affiliations }, items: await readItems(account, node) });
        }
        return { elements: nodesToElements(account.bareString, out) };
      },
      // through the same storage path as a publish, so max_items and the node limit hold; the
      // other modules hear about the items (bookmarks and avatar conversion stay in step)
      async import(account, elements) {
        const { nodes, notes } = nodesFromElements(account.bareString, elements, maxItems);
        let imported = 0;
        let skippedNodes = 0;
        for (const n of nodes) {
          const rec = await locked(account.bareString, async () => {
            const all = { ...(await loadNodes(account.bareString)) };
            const existing = all[n.node];
            if (!existing && Object.keys(all).length >= maxNodes) return undefined;
            const next: NodeRecord = existing
              ? { ...existing, config: n.config ?? existing.config, affiliations: { ...existing.affiliations, ...(n.affiliations as Record<string, Affiliation>) } }
              : { config: n.config ?? defaultConfig(), affiliations: n.affiliations as Record<string, Affiliation>, created: Date.now() };
            all[n.node] = next;
            await saveNodes(account.bareString, all);
            return next;
          });
          if (!rec) {
            skippedNodes++;
            continue;
          }
          for (const item of n.items) {
            await store(account, n.node, item.id, item.payload, () => rec.config);
            await fire(publishListeners, { owner: account, node: n.node, item: { id: item.id, payload: item.payload, when: Date.now() }, by: "import" });
            imported++;
          }
        }
        if (skippedNodes > 0) notes.push(`${skippedNodes} nodes not imported: the account has the most nodes allowed (${maxNodes})`);
        return { imported, notes };
      },
    });

    // ---- the service ----

    const service: PepService = {
      publish: (owner, node, item, opts = {}) => publish(owner, node, item, (existing) => existing ?? { ...defaultConfig(), ...opts.config }, opts.by),
      items: async (owner, node, opts) => ((await loadNodes(owner.bareString))[node] ? readItems(owner, node, opts) : []),
      retract: async (owner, node, ids, by) => ((await loadNodes(owner.bareString))[node] ? retract(owner, node, ids, undefined, by) : 0),
      nodeConfig: async (owner, node) => (await loadNodes(owner.bareString))[node]?.config,
      onPublish: (fn) => void publishListeners.push(fn),
      onRetract: (fn) => void retractListeners.push(fn),
    };
    ctx.provide("pep", service);
  },
});
