// Service discovery (XEP-0030) for the domain and for accounts, the server's entity capabilities
// in stream features (XEP-0115 §6.3), and contact addresses as extended info (XEP-0128, XEP-0157).
import { createHash } from "node:crypto";
import { defineModule, type DiscoIdentity } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { Element, x } from "../../xml/element.js";
import type { Config } from "../../config/schema.js";
import type { Jid } from "../../jid/jid.js";

/** The caps node of Warbler (XEP-0115 §4: a URI identifying the software). */
export const CAPS_NODE = "https://warbler.invalid/caps";

/** An item listed by disco#items on the domain (an upload service, a MUC service, …). */
export interface DiscoItem {
  jid: string;
  name?: string;
}

/** A node of the domain (XEP-0030 §3.3 / §4.2, e.g. XEP-0050's commands): what it answers, per requester. */
export interface DiscoNode {
  items?(from: Jid, host: string): Promise<(DiscoItem & { node?: string })[]> | (DiscoItem & { node?: string })[];
  info?(from: Jid, host: string): Promise<{ identities: DiscoIdentity[]; features: string[] } | undefined> | { identities: DiscoIdentity[]; features: string[] } | undefined;
}

/** The "disco" service other modules use to list items and add extended info forms. */
export interface DiscoService {
  addItem(host: string, item: DiscoItem): void;
  /** Answers disco#info and disco#items queries with this `node` on every domain. */
  addNode(node: string, handler: DiscoNode): void;
  /** Adds a XEP-0128 form to the domain's disco#info (e.g. the privacy policy URL). */
  addHostForm(build: (host: string) => Element | undefined): void;
  /** The XEP-0115 verification string of the domain's info. */
  capsHash(host: string): string;
}

/** XEP-0157 fields, by config key. */
const ADDRESS_FIELDS = ["abuse", "admin", "feedback", "sales", "security", "status", "support"] as const;

/** XEP-0157 §2: the serverinfo form, or undefined when no address is configured. */
export function contactAddressForm(config: Config): Element | undefined {
  const addrs = config.server.contactAddresses as Partial<Record<(typeof ADDRESS_FIELDS)[number], string[]>>;
  const fields: Element[] = [];
  for (const key of ADDRESS_FIELDS) {
    const values = addrs[key] ?? [];
    if (values.length === 0) continue;
    fields.push(x("field", { var: `${key}-addresses`, type: "list-multi" }, ...values.map((v) => x("value", null, v))));
  }
  if (fields.length === 0) return undefined;
  return x(
    "x",
    { xmlns: NS.DATA, type: "result" },
    x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", null, "http://jabber.org/network/serverinfo")),
    ...fields,
  );
}

/** The XEP-0115 §5.1 verification string: identities, features and forms, hashed with SHA-1. */
export function capsVerification(identities: DiscoIdentity[], features: string[], forms: Element[]): string {
  const ids = identities
    .map((i) => `${i.category}/${i.type}//${i.name ?? ""}`)
    .sort()
    .join("<");
  let s = ids + "<";
  for (const f of [...features].sort()) s += f + "<";
  const formStrings = forms.map((form) => {
    const fields = form.getChildren("field");
    const type = fields.find((f) => f.attrs.var === "FORM_TYPE")?.getChildText("value") ?? "";
    let fs = type + "<";
    const rest = fields.filter((f) => f.attrs.var !== "FORM_TYPE").sort((a, b) => cmp(a.attrs.var ?? "", b.attrs.var ?? ""));
    for (const f of rest) {
      fs += (f.attrs.var ?? "") + "<";
      for (const v of f.getChildren("value").map((v) => v.text()).sort(cmp)) fs += v + "<";
    }
    return { type, fs };
  });
  formStrings.sort((a, b) => cmp(a.type, b.type));
  for (const f of formStrings) s += f.fs;
  return createHash("sha1").update(s, "utf8").digest("base64");
}

// XEP-0115 §5.1 sorts by "i;octet" collation: compare UTF-8 bytes, not UTF-16 code units.
function cmp(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function infoQuery(node: string | undefined, identities: DiscoIdentity[], features: string[], forms: Element[]): Element {
  return x(
    "query",
    { xmlns: NS.DISCO_INFO, node },
    ...identities.map((i) => x("identity", { category: i.category, type: i.type, name: i.name })),
    ...features.map((f) => x("feature", { var: f })),
    ...forms,
  );
}

export const discoModule = defineModule({
  name: "disco",
  specs: ["XEP-0030", "XEP-0115", "XEP-0128", "XEP-0157"],
  disco: { features: [NS.DISCO_ITEMS] },
  setup(ctx) {
    const items = new Map<string, DiscoItem[]>();
    const formBuilders: ((host: string) => Element | undefined)[] = [(_host) => contactAddressForm(ctx.config)];
    const hostForms = (host: string) => formBuilders.map((b) => b(host)).filter((f): f is Element => f !== undefined);
    const hostInfo = (host: string) => {
      const { identities, features } = ctx.core.discoInfo("host");
      return { identities, features, forms: hostForms(host) };
    };
    const capsCache = new Map<string, string>();
    const capsHash = (host: string): string => {
      let h = capsCache.get(host);
      if (h === undefined) {
        const i = hostInfo(host);
        h = capsVerification(i.identities, i.features, i.forms);
        capsCache.set(host, h);
      }
      return h;
    };
    const nodes = new Map<string, DiscoNode>();
    const service: DiscoService = {
      addNode(node, handler) {
        if (nodes.has(node)) throw new Error(`disco node ${node} served twice`);
        nodes.set(node, handler);
      },
      addItem(host, item) {
        const list = items.get(host) ?? [];
        list.push(item);
        items.set(host, list);
      },
      addHostForm(build) {
        formBuilders.push(build);
        capsCache.clear();
      },
      capsHash,
    };
    ctx.provide("disco", service);
    // Modules load after disco; their features change the hash, so it is computed lazily.
    ctx.on("server/started", () => void capsCache.clear());

    ctx.iq("host", "get", NS.DISCO_INFO, "query", async (req) => {
      const node = req.payload.attrs.node;
      const host = req.to.domain;
      const nodeInfo = node !== undefined ? await nodes.get(node)?.info?.(req.from, host) : undefined;
      if (node !== undefined && nodeInfo) return infoQuery(node, nodeInfo.identities, nodeInfo.features, []);
      // XEP-0115 §6.2: the caps node#ver answers like the plain query
      if (node !== undefined && node !== `${CAPS_NODE}#${capsHash(host)}`) throw new StanzaError("item-not-found");
      const i = hostInfo(host);
      return infoQuery(node, i.identities, i.features, i.forms);
    });
    ctx.iq("host", "get", NS.DISCO_ITEMS, "query", async (req) => {
      const node = req.payload.attrs.node;
      if (node !== undefined) {
        const h = nodes.get(node)?.items;
        if (!h) throw new StanzaError("item-not-found");
        const list = await h(req.from, req.to.domain);
        return x("query", { xmlns: NS.DISCO_ITEMS, node }, ...list.map((i) => x("item", { jid: i.jid, node: i.node, name: i.name })));
      }
      return x("query", { xmlns: NS.DISCO_ITEMS }, ...(items.get(req.to.domain) ?? []).map((i) => x("item", { jid: i.jid, name: i.name })));
    });

    // XEP-0030 §3.1 on an account: only the account itself and its approved contacts learn
    // anything (PRIVACY: strangers cannot probe which accounts exist).
    const mayDiscover = async (from: Jid, account: Jid): Promise<boolean> => {
      if (from.bare().equals(account)) return true;
      const roster = ctx.use<{ getItem(owner: Jid, contact: Jid): Promise<{ subscription: string } | undefined> }>("roster");
      const item = roster ? await roster.getItem(account, from.bare()) : undefined;
      return item?.subscription === "from" || item?.subscription === "both";
    };
    ctx.iq("account", "get", NS.DISCO_INFO, "query", async (req) => {
      if (!(await mayDiscover(req.from, req.to))) throw new StanzaError("service-unavailable");
      if (req.payload.attrs.node !== undefined) throw new StanzaError("item-not-found");
      const { identities, features } = ctx.core.discoInfo("account");
      return infoQuery(undefined, identities, features, []);
    });
    ctx.iq("account", "get", NS.DISCO_ITEMS, "query", async (req) => {
      if (!(await mayDiscover(req.from, req.to))) throw new StanzaError("service-unavailable");
      return x("query", { xmlns: NS.DISCO_ITEMS, node: req.payload.attrs.node });
    });

    // XEP-0115 §6.3: the server's capabilities in stream features
    ctx.streamFeature("post-auth", (session) =>
      x("c", { xmlns: NS.CAPS, hash: "sha-1", node: CAPS_NODE, ver: capsHash(session.host) }),
    );
    ctx.streamFeature("pre-auth", (session) =>
      x("c", { xmlns: NS.CAPS, hash: "sha-1", node: CAPS_NODE, ver: capsHash(session.host) }),
    );
  },
});
