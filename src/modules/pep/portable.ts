// PEP nodes in XEP-0227 form, as Prosody's migrator writes them: <pubsub#owner> with each node's
// <configure/> (a XEP-0004 node_config form, XEP-0060 §8.2) and <affiliations/> (§8.9), and
// <pubsub> with each node's <items/>. Pure functions; the module stores what they return.
import { NS } from "../../core/namespaces.js";
import { StanzaError } from "../../core/errors.js";
import { tryParseJid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { FORM_NODE_CONFIG, NS_PUBSUB, NS_PUBSUB_OWNER, applyFields, defaultConfig, type NodeConfig } from "./config.js";

/** One node as exported and imported. */
export interface PortableNode {
  node: string;
  /** Undefined when the document has items but no <configure/> for the node. */
  config: NodeConfig | undefined;
  /** Bare JID → affiliation, the owner left out. */
  affiliations: Record<string, string>;
  /** Oldest first. */
  items: { id: string; payload: Element }[];
}

const AFFILIATIONS = new Set(["owner", "publisher", "member", "none", "outcast"]);

/** A submitted node_config form with every stored setting (what Prosody writes in <configure/>). */
export function configSubmitForm(c: NodeConfig): Element {
  const field = (v: string, ...values: string[]) => x("field", { var: v }, ...values.map((val) => x("value", null, val)));
  return x(
    "x",
    { xmlns: NS.DATA, type: "submit" },
    x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", null, FORM_NODE_CONFIG)),
    field("pubsub#access_model", c.access_model),
    field("pubsub#max_items", String(c.max_items)),
    field("pubsub#persist_items", c.persist_items ? "1" : "0"),
    field("pubsub#send_last_published_item", c.send_last_published_item),
    field("pubsub#notify_retract", c.notify_retract ? "1" : "0"),
    field("pubsub#notify_delete", c.notify_delete ? "1" : "0"),
    field("pubsub#roster_groups_allowed", ...c.roster_groups_allowed),
    field("pubsub#title", c.title),
    field("pubsub#type", c.type),
  );
}

/** The <pubsub#owner/> and <pubsub/> elements for an account's nodes (none when it has none). */
export function nodesToElements(owner: string, nodes: PortableNode[]): Element[] {
  if (nodes.length === 0) return [];
  const ownerEl = x("pubsub", { xmlns: NS_PUBSUB_OWNER });
  const itemsEl = x("pubsub", { xmlns: NS_PUBSUB });
  for (const n of nodes) {
    if (n.config) ownerEl.append(x("configure", { node: n.node }, configSubmitForm(n.config)));
    ownerEl.append(
      x(
        "affiliations",
        { node: n.node },
        x("affiliation", { jid: owner, affiliation: "owner" }),
        ...Object.entries(n.affiliations).map(([jid, affiliation]) => x("affiliation", { jid, affiliation })),
      ),
    );
    if (n.items.length > 0) itemsEl.append(x("items", { node: n.node }, ...n.items.map((i) => x("item", { id: i.id }, i.payload.clone()))));
  }
  return itemsEl.elements().length > 0 ? [ownerEl, itemsEl] : [ownerEl];
}

/**
 * A node configuration from an imported form, leniently: empty fields (Prosody writes every field,
 * most without a value) and fields Warbler has no setting for are skipped; a max_items above the
 * server's limit becomes "max"; persist_items is always true here (items are always kept).
 * Returns the configuration and the names of skipped fields that had a value.
 */
export function configFromForm(form: Element, maxItemsLimit: number): { config: NodeConfig; skipped: string[] } {
  const skipped: string[] = [];
  let config = defaultConfig();
  for (const f of form.getChildren("field")) {
    const name = f.attrs.var;
    const values = f.getChildren("value").map((v) => v.text());
    if (name === undefined || name === "FORM_TYPE" || values.length === 0) continue;
    if (name === "pubsub#persist_items") continue;
    let fieldValues = values;
    if (name === "pubsub#max_items" && /^\d{1,15}$/.test(values[0] ?? "") && Number(values[0]) > maxItemsLimit) fieldValues = ["max"];
    if (name === "pubsub#title" || name === "pubsub#type") {
      if (values[0] === "") continue;
    }
    try {
      config = applyFields(config, new Map([[name, fieldValues]]), maxItemsLimit);
    } catch (err) {
      if (!(err instanceof StanzaError)) throw err;
      // deliver_* = 1 are accepted above; other unknown fields or values are left at the default
      skipped.push(name);
    }
  }
  return { config, skipped };
}

/**
 * The nodes found in imported <pubsub#owner/> and <pubsub/> elements, in document order of first
 * mention. Items without an id or with other than one payload are skipped and counted in notes.
 */
export function nodesFromElements(owner: string, elements: Element[], maxItemsLimit: number): { nodes: PortableNode[]; notes: string[] } {
  const byName = new Map<string, PortableNode>();
  const notes: string[] = [];
  const skippedFields = new Set<string>();
  let badItems = 0;
  let badAffiliations = 0;
  const get = (node: string): PortableNode => {
    let n = byName.get(node);
    if (!n) {
      n = { node, config: undefined, affiliations: {}, items: [] };
      byName.set(node, n);
    }
    return n;
  };
  for (const el of elements) {
    if (el.name !== "pubsub") continue;
    if (el.ns === NS_PUBSUB_OWNER) {
      for (const c of el.elements()) {
        const node = c.attrs.node;
        if (node === undefined || node === "") continue;
        if (c.name === "configure") {
          const form = c.getChild("x", NS.DATA);
          const n = get(node);
          if (!form) continue;
          const { config, skipped } = configFromForm(form, maxItemsLimit);
          n.config = config;
          for (const s of skipped) skippedFields.add(s);
        } else if (c.name === "affiliations") {
          const n = get(node);
          for (const a of c.getChildren("affiliation")) {
            const j = tryParseJid(a.attrs.jid ?? "");
            const aff = a.attrs.affiliation ?? "";
            if (!j || !AFFILIATIONS.has(aff)) {
              badAffiliations++;
              continue;
            }
            // the owner is implicit (XEP-0163 §3); "none" is no affiliation
            if (j.bareString === owner || aff === "none" || aff === "owner") continue;
            n.affiliations[j.bareString] = aff;
          }
        }
      }
    } else if (el.ns === NS_PUBSUB) {
      for (const itemsEl of el.getChildren("items")) {
        const node = itemsEl.attrs.node;
        if (node === undefined || node === "") continue;
        const n = get(node);
        for (const item of itemsEl.getChildren("item")) {
          const id = item.attrs.id;
          const payloads = item.elements();
          if (id === undefined || id === "" || payloads.length !== 1) {
            badItems++;
            continue;
          }
          // XEP-0060 §7.1.2: a repeated id replaces the earlier item
          n.items = n.items.filter((i) => i.id !== id);
          n.items.push({ id, payload: payloads[0]! });
        }
      }
    }
  }
  if (skippedFields.size > 0) notes.push(`node settings not supported here were left at their defaults: ${[...skippedFields].sort().join(", ")}`);
  if (badItems > 0) notes.push(`${badItems} items without an id or a single payload skipped`);
  if (badAffiliations > 0) notes.push(`${badAffiliations} invalid affiliations skipped`);
  return { nodes: [...byName.values()], notes };
}
