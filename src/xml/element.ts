// The XML element tree used for every stanza: namespace-resolved names, attributes, children.
// Serialization escapes per XML 1.0 §2.4 and emits a default-namespace declaration only where an
// element's namespace differs from its parent's (RFC 6120 §4.8.3: stanzas inherit the stream's
// content namespace).

/** A child node: an element or character data (unescaped). */
export type XmlNode = Element | string;

/**
 * An XML element with its namespace resolved.
 *
 * `name` is the local name (prefixes are resolved away), `ns` the namespace URI ("" means "not set
 * yet": it is taken from the parent when the element is appended). `attrs` holds attributes by their
 * qualified name as received, e.g. `xml:lang` or `type`; the default namespace declaration is not
 * kept there (it is `ns`), prefixed declarations (`xmlns:p`) are, so prefixed attributes stay valid.
 */
export class Element {
  name: string;
  ns: string;
  attrs: Record<string, string>;
  children: XmlNode[];

  constructor(name: string, ns = "", attrs: Record<string, string> = {}, children: XmlNode[] = []) {
    this.name = name;
    this.ns = ns;
    this.attrs = attrs;
    this.children = [];
    for (const c of children) this.append(c);
  }

  /** Appends a child; an element without a namespace takes this element's. Returns this. */
  append(child: XmlNode | null | undefined | false): this {
    if (child === null || child === undefined || child === false) return this;
    if (typeof child !== "string" && child.ns === "" && this.ns !== "") inheritNs(child, this.ns);
    this.children.push(child);
    return this;
  }

  /** Appends a new child element and returns the child (builder style). */
  c(name: string, attrs: Record<string, string> = {}, ns = ""): Element {
    const el = new Element(name, ns, attrs);
    this.append(el);
    return el;
  }

  /** Appends text and returns this. */
  t(text: string): this {
    if (text !== "") this.children.push(text);
    return this;
  }

  attr(name: string): string | undefined {
    return this.attrs[name];
  }

  /** True when this element has local name `name` and (if given) namespace `ns`. */
  is(name: string, ns?: string): boolean {
    return this.name === name && (ns === undefined || this.ns === ns);
  }

  /** The first child element with that name (and namespace, if given). */
  getChild(name: string, ns?: string): Element | undefined {
    for (const c of this.children) {
      if (typeof c !== "string" && c.name === name && (ns === undefined || c.ns === ns)) return c;
    }
    return undefined;
  }

  /** The first child element in that namespace, whatever its name. */
  getChildByNs(ns: string): Element | undefined {
    for (const c of this.children) if (typeof c !== "string" && c.ns === ns) return c;
    return undefined;
  }

  getChildren(name?: string, ns?: string): Element[] {
    const out: Element[] = [];
    for (const c of this.children) {
      if (typeof c === "string") continue;
      if ((name === undefined || c.name === name) && (ns === undefined || c.ns === ns)) out.push(c);
    }
    return out;
  }

  /** All child elements. */
  elements(): Element[] {
    return this.getChildren();
  }

  /** Concatenated direct character data. */
  text(): string {
    let s = "";
    for (const c of this.children) if (typeof c === "string") s += c;
    return s;
  }

  getChildText(name: string, ns?: string): string | undefined {
    return this.getChild(name, ns)?.text();
  }

  /** Deep copy. */
  clone(): Element {
    const el = new Element(this.name, this.ns, { ...this.attrs });
    for (const c of this.children) el.children.push(typeof c === "string" ? c : c.clone());
    return el;
  }

  /** Serializes, assuming the surrounding default namespace is `parentNs`. */
  toString(parentNs = ""): string {
    return serialize(this, parentNs);
  }
}

function inheritNs(el: Element, ns: string): void {
  el.ns = ns;
  for (const c of el.children) if (typeof c !== "string" && c.ns === "") inheritNs(c, ns);
}

// CR is escaped because a parser turns a literal one into LF (XML 1.0 §2.11). Characters XML 1.0
// cannot carry at all (§2.2: C0 controls other than tab, LF, CR; U+FFFE, U+FFFF) become U+FFFD, so
// that data from elsewhere can never make our output ill-formed and kill the peer's stream.
const ESC_TEXT = /[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g;
const ESC_ATTR = /[&<>"'\r\n\t\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g;
// Non-global twins for the fast "anything to escape?" test (a /g regexp's test() is stateful).
const HAS_TEXT = /[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const HAS_ATTR = /[&<>"'\r\n\t\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\r": "&#13;",
  "\n": "&#10;",
  "\t": "&#9;",
};

const entity = (c: string): string => ENTITIES[c] ?? "\uFFFD";

/** Escapes character data (XML 1.0 §2.4); `>` too, so `]]>` can never appear. */
export function escapeText(s: string): string {
  return HAS_TEXT.test(s) ? s.replace(ESC_TEXT, entity) : s;
}

/** Escapes an attribute value for double or single quotes; whitespace kept by character reference. */
export function escapeAttr(s: string): string {
  return HAS_ATTR.test(s) ? s.replace(ESC_ATTR, entity) : s;
}

/** Serializes an element; `parentNs` is the default namespace in scope where it is written. */
export function serialize(el: Element, parentNs = ""): string {
  let s = "<" + el.name;
  if (el.ns !== "" && el.ns !== parentNs) s += ' xmlns="' + escapeAttr(el.ns) + '"';
  const attrs = el.attrs;
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined) continue;
    s += " " + k + '="' + escapeAttr(v) + '"';
  }
  if (el.children.length === 0) return s + "/>";
  s += ">";
  const ns = el.ns === "" ? parentNs : el.ns;
  for (const c of el.children) s += typeof c === "string" ? escapeText(c) : serialize(c, ns);
  return s + "</" + el.name + ">";
}

/**
 * Builds an element: `x("iq", { type: "result", id }, x("query", { xmlns: NS }))`.
 * An `xmlns` attribute sets the namespace; undefined attribute values are dropped.
 */
export function x(name: string, attrs?: Record<string, string | undefined> | null, ...children: (XmlNode | null | undefined | false)[]): Element {
  let ns = "";
  const a: Record<string, string> = {};
  if (attrs) {
    for (const k in attrs) {
      const v = attrs[k];
      if (v === undefined) continue;
      if (k === "xmlns") ns = v;
      else a[k] = v;
    }
  }
  const el = new Element(name, ns, a);
  for (const c of children) el.append(c);
  return el;
}
