// A JSON form of XML elements, for modules that keep client-supplied XML (PEP items, vCards,
// private XML storage) in the generic stores, whose values are JSON.
import { Element } from "./element.js";

/** An element as JSON: name, namespace, attributes, children (text as strings). */
export interface ElementJson {
  n: string;
  ns: string;
  a: Record<string, string>;
  c: (ElementJson | string)[];
}

/** Element to JSON. */
export function toJson(el: Element): ElementJson {
  return { n: el.name, ns: el.ns, a: { ...el.attrs }, c: el.children.map((c) => (typeof c === "string" ? c : toJson(c))) };
}

/** JSON back to an element (a fresh tree the caller may change). */
export function fromJson(j: ElementJson): Element {
  const el = new Element(j.n, j.ns, { ...j.a });
  for (const c of j.c) el.children.push(typeof c === "string" ? c : fromJson(c));
  return el;
}
