// Entity capabilities of contacts' clients (XEP-0115): the <c/> element of a presence, and the
// verification of a disco#info answer against the advertised hash (§5.1 string, §5.4 checks).
import { createHash, getHashes } from "node:crypto";
import { NS } from "../../core/namespaces.js";
import type { Element } from "../../xml/element.js";

/** What a presence advertises (XEP-0115 §4). */
export interface Caps {
  node: string;
  ver: string;
  /** The hash function's IANA name ("sha-1", "sha-256", …). */
  hash: string;
}

/** The <c/> of a presence, or undefined (legacy caps without 'hash' cannot be verified: ignored). */
export function parseCaps(presence: Element): Caps | undefined {
  const c = presence.getChild("c", NS.CAPS);
  if (!c) return undefined;
  const { node, ver, hash } = c.attrs;
  if (!node || !ver || !hash) return undefined;
  return { node, ver, hash: hash.toLowerCase() };
}

/** node:crypto's name for an IANA hash name (XEP-0115 §5.1 uses the IANA registry), if supported. */
export function cryptoHashName(iana: string): string | undefined {
  const name = iana.toLowerCase().replace(/^sha-/, "sha");
  // XEP-0115 §5.1: MD2 is forbidden; anything node:crypto lacks cannot be checked
  if (name === "md2" || !getHashes().includes(name)) return undefined;
  return name;
}

// XEP-0115 §5.1: "i;octet" collation, i.e. UTF-8 bytes
function cmp(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * The XEP-0115 §5.1 verification string of a disco#info <query/>, or undefined when §5.4 says
 * the answer is ill-formed (repeated identity, feature or form type; a FORM_TYPE not hidden).
 */
export function verificationString(query: Element): string | undefined {
  const ids = query.getChildren("identity", NS.DISCO_INFO).map((i) => ({
    category: i.attrs.category ?? "",
    type: i.attrs.type ?? "",
    lang: i.attrs["xml:lang"] ?? "",
    name: i.attrs.name ?? "",
  }));
  ids.sort((a, b) => cmp(a.category, b.category) || cmp(a.type, b.type) || cmp(a.lang, b.lang));
  const idStrings = ids.map((i) => `${i.category}/${i.type}/${i.lang}/${i.name}`);
  if (new Set(idStrings).size !== idStrings.length) return undefined; // §5.4 3.a
  const features = query.getChildren("feature", NS.DISCO_INFO).map((f) => f.attrs.var ?? "");
  if (new Set(features).size !== features.length) return undefined; // §5.4 3.b
  features.sort(cmp);
  let s = "";
  for (const i of idStrings) s += i + "<";
  for (const f of features) s += f + "<";
  const forms: { type: string; s: string }[] = [];
  for (const form of query.getChildren("x", NS.DATA)) {
    const fields = form.getChildren("field", NS.DATA);
    const ft = fields.find((f) => f.attrs.var === "FORM_TYPE");
    if (!ft) continue; // §5.4 3.c: forms without FORM_TYPE are ignored
    if (ft.attrs.type !== "hidden") return undefined; // §5.4 3.e
    const type = ft.getChildText("value", NS.DATA) ?? "";
    let fs = type + "<";
    const rest = fields.filter((f) => f.attrs.var !== "FORM_TYPE").sort((a, b) => cmp(a.attrs.var ?? "", b.attrs.var ?? ""));
    for (const f of rest) {
      fs += (f.attrs.var ?? "") + "<";
      for (const v of f.getChildren("value", NS.DATA).map((v) => v.text()).sort(cmp)) fs += v + "<";
    }
    forms.push({ type, s: fs });
  }
  if (new Set(forms.map((f) => f.type)).size !== forms.length) return undefined; // §5.4 3.d
  forms.sort((a, b) => cmp(a.type, b.type));
  for (const f of forms) s += f.s;
  return s;
}

/** XEP-0115 §5.4: whether a disco#info answer matches the advertised ver under its hash. */
export function verifyCaps(query: Element, caps: Pick<Caps, "hash" | "ver">): boolean {
  const algo = cryptoHashName(caps.hash);
  if (!algo) return false;
  const s = verificationString(query);
  if (s === undefined) return false;
  return createHash(algo).update(s, "utf8").digest("base64") === caps.ver;
}

/** The features of a disco#info answer. */
export function featuresOf(query: Element): string[] {
  return query.getChildren("feature", NS.DISCO_INFO).map((f) => f.attrs.var ?? "").filter((f) => f !== "");
}
