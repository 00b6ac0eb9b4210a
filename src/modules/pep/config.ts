// PEP node configuration (XEP-0060 §8.2 with the XEP-0163 defaults), the data forms that carry it
// (XEP-0004), and publish-options preconditions (XEP-0060 §7.1.5, XEP-0223). Pure functions.
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { x, type Element } from "../../xml/element.js";

export const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
export const NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner";
export const NS_PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event";
export const NS_PUBSUB_ERRORS = "http://jabber.org/protocol/pubsub#errors";
export const FORM_NODE_CONFIG = "http://jabber.org/protocol/pubsub#node_config";
export const FORM_PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options";

/** XEP-0060 §4.5 access models a PEP node may have (XEP-0163 §4: presence by default). */
export const ACCESS_MODELS = ["presence", "open", "roster", "whitelist"] as const;
export type AccessModel = (typeof ACCESS_MODELS)[number];
export const SEND_LAST = ["never", "on_sub", "on_sub_and_presence"] as const;
export type SendLast = (typeof SEND_LAST)[number];

/** The configuration of one node, as stored. */
export interface NodeConfig {
  access_model: AccessModel;
  /** Items kept; "max" is the server's limit (XEP-0060 §7.1.5 / XEP-0402 use it). */
  max_items: number | "max";
  persist_items: boolean;
  send_last_published_item: SendLast;
  notify_retract: boolean;
  notify_delete: boolean;
  /** For access model "roster": the owner's roster groups whose members may read (XEP-0060 §4.5). */
  roster_groups_allowed: string[];
  title: string;
  type: string;
}

/** A new node's configuration: XEP-0163 §4 (presence access, last item on presence). */
export function defaultConfig(): NodeConfig {
  return {
    access_model: "presence",
    max_items: 1,
    persist_items: true,
    send_last_published_item: "on_sub_and_presence",
    notify_retract: true,
    notify_delete: true,
    roster_groups_allowed: [],
    title: "",
    type: "",
  };
}

/** The field values of a submitted data form (XEP-0004 §3.2), FORM_TYPE left out. */
export interface SubmittedForm {
  formType: string | undefined;
  fields: Map<string, string[]>;
}

/** Reads a submitted form; a field repeated or without 'var' is bad-request (XEP-0004 §3.2). */
export function parseForm(form: Element): SubmittedForm {
  if (form.name !== "x" || form.ns !== NS.DATA) throw new StanzaError("bad-request", "Expected a data form");
  const type = form.attrs.type;
  if (type !== "submit" && type !== undefined) throw new StanzaError("bad-request", "The form must be of type submit");
  let formType: string | undefined;
  const fields = new Map<string, string[]>();
  for (const f of form.getChildren("field")) {
    const v = f.attrs.var;
    if (v === undefined || v === "") throw new StanzaError("bad-request", "A field has no var");
    const values = f.getChildren("value").map((e) => e.text());
    if (v === "FORM_TYPE") {
      formType = values[0];
      continue;
    }
    if (fields.has(v)) throw new StanzaError("bad-request", `Field ${v} is repeated`);
    fields.set(v, values);
  }
  return { formType, fields };
}

function bool(v: string | undefined, field: string): boolean {
  // XEP-0004 §3.3 boolean: "0"/"false" and "1"/"true"
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw new StanzaError("not-acceptable", `${field} must be a boolean`);
}

function oneOf<T extends string>(v: string | undefined, allowed: readonly T[], field: string): T {
  if (v !== undefined && (allowed as readonly string[]).includes(v)) return v as T;
  throw new StanzaError("not-acceptable", `Unsupported value for ${field}`);
}

/**
 * The configuration after applying form fields to `base`. `maxItemsLimit` bounds max_items.
 * Unknown fields and invalid values throw not-acceptable (XEP-0060 §8.2.5.4).
 */
export function applyFields(base: NodeConfig, fields: Map<string, string[]>, maxItemsLimit: number): NodeConfig {
  const c: NodeConfig = { ...base, roster_groups_allowed: [...base.roster_groups_allowed] };
  for (const [name, values] of fields) {
    const v = values[0];
    switch (name) {
      case "pubsub#access_model":
        c.access_model = oneOf(v, ACCESS_MODELS, name);
        break;
      case "pubsub#max_items": {
        if (v === "max") c.max_items = "max";
        else {
          const n = v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : NaN;
          if (!(n >= 1 && n <= maxItemsLimit)) throw new StanzaError("not-acceptable", `pubsub#max_items must be 1..${maxItemsLimit} or max`);
          c.max_items = n;
        }
        break;
      }
      case "pubsub#persist_items":
        // items are always kept; asking for transient items cannot be honoured
        if (!bool(v, name)) throw new StanzaError("not-acceptable", "Only persistent nodes are supported");
        c.persist_items = true;
        break;
      case "pubsub#send_last_published_item":
        c.send_last_published_item = oneOf(v, SEND_LAST, name);
        break;
      case "pubsub#notify_retract":
        c.notify_retract = bool(v, name);
        break;
      case "pubsub#notify_delete":
        c.notify_delete = bool(v, name);
        break;
      case "pubsub#deliver_payloads":
      case "pubsub#deliver_notifications":
        // notifications always carry the payload
        if (!bool(v, name)) throw new StanzaError("not-acceptable", `${name} cannot be turned off`);
        break;
      case "pubsub#roster_groups_allowed":
        c.roster_groups_allowed = values.filter((g) => g !== "").slice(0, 100);
        break;
      case "pubsub#title":
        c.title = (v ?? "").slice(0, 1024);
        break;
      case "pubsub#type":
        c.type = (v ?? "").slice(0, 1024);
        break;
      default:
        throw new StanzaError("not-acceptable", `Unsupported field ${name}`);
    }
  }
  return c;
}

/** Whether two configurations are the same. */
export function sameConfig(a: NodeConfig, b: NodeConfig): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function normalize(c: NodeConfig): unknown[] {
  return [c.access_model, c.max_items, c.persist_items, c.send_last_published_item, c.notify_retract, c.notify_delete, [...c.roster_groups_allowed].sort(), c.title, c.type];
}

/** The error for publish-options that an existing node does not meet (XEP-0060 §7.1.5). */
export function preconditionNotMet(text?: string): StanzaError {
  return new StanzaError("conflict", text, { app: x("precondition-not-met", { xmlns: NS_PUBSUB_ERRORS }) });
}

/**
 * XEP-0060 §7.1.5 / XEP-0223: publish-options are preconditions. For an existing node they are met
 * when applying them would change nothing (an unsupported field can never be met); for a new
 * node they become its configuration. Returns the configuration to use, or throws
 * conflict + precondition-not-met.
 */
export function checkPublishOptions(existing: NodeConfig | undefined, options: SubmittedForm | undefined, maxItemsLimit: number): NodeConfig {
  const base = existing ?? defaultConfig();
  if (!options) return base;
  if (options.formType !== FORM_PUBLISH_OPTIONS) throw new StanzaError("bad-request", "publish-options needs FORM_TYPE " + FORM_PUBLISH_OPTIONS);
  let applied: NodeConfig;
  try {
    applied = applyFields(base, options.fields, maxItemsLimit);
  } catch (err) {
    if (err instanceof StanzaError) throw preconditionNotMet(err.message);
    throw err;
  }
  if (existing && !sameConfig(existing, applied)) throw preconditionNotMet("The node's configuration differs from the publish-options");
  return applied;
}

/** The number of items a node keeps. */
export function itemLimit(c: NodeConfig, maxItemsLimit: number): number {
  return c.max_items === "max" ? maxItemsLimit : Math.min(c.max_items, maxItemsLimit);
}

/** The node configuration form (XEP-0060 §8.2.1), type "form" to fill or "result" to show. */
export function configForm(c: NodeConfig, type: "form" | "result" = "form"): Element {
  const field = (v: string, ftype: string, label: string, values: string[], options?: readonly string[]) =>
    x(
      "field",
      { var: v, type: ftype, label },
      ...(options ?? []).map((o) => x("option", null, x("value", null, o))),
      ...values.map((val) => x("value", null, val)),
    );
  return x(
    "x",
    { xmlns: NS.DATA, type },
    x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", null, FORM_NODE_CONFIG)),
    field("pubsub#access_model", "list-single", "Who may subscribe and retrieve items", [c.access_model], ACCESS_MODELS),
    field("pubsub#max_items", "text-single", "Items to keep (a number or max)", [String(c.max_items)]),
    field("pubsub#persist_items", "boolean", "Keep items", [c.persist_items ? "1" : "0"]),
    field("pubsub#send_last_published_item", "list-single", "When to send the last item", [c.send_last_published_item], SEND_LAST),
    field("pubsub#notify_retract", "boolean", "Notify when items are retracted", [c.notify_retract ? "1" : "0"]),
    field("pubsub#notify_delete", "boolean", "Notify when the node is deleted", [c.notify_delete ? "1" : "0"]),
    field("pubsub#deliver_payloads", "boolean", "Deliver payloads with notifications", ["1"]),
    field("pubsub#roster_groups_allowed", "list-multi", "Roster groups allowed (access model roster)", c.roster_groups_allowed),
    field("pubsub#title", "text-single", "A short name for the node", [c.title]),
    field("pubsub#type", "text-single", "The payload type", [c.type]),
  );
}
