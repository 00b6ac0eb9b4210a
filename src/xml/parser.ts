// Streaming XML parser for XMPP: saxes tokenizes; this layer builds stanzas and enforces limits.
// RFC 6120 §4.2-§4.3 (one document per stream, restarts), §4.8 (namespaces), §11 (restricted XML,
// UTF-8); RFC 7395 §3.3.3 (WebSocket framing: one complete element per message).

import { SaxesParser, type SaxesTagPlain } from "saxes";
import { Element } from "./element.js";

const NS_STREAM = "http://etherx.jabber.org/streams";
const NS_CLIENT = "jabber:client";
const NS_XML = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS = "http://www.w3.org/2000/xmlns/";

/**
 * Namespace bindings in force for an element. Elements that declare nothing share their parent's
 * scope object; `prefixes` chains to the parent's map through its prototype.
 */
interface Scope {
  dflt: string;
  prefixes: Record<string, string>;
}

/** The handler fields behind saxes' on() (saxes 6.0.0, pinned in package.json). */
interface SaxesHandlerSlots {
  attributeHandler?: (attr: { name: string; value: string }) => void;
  openTagHandler?: (tag: SaxesTagPlain) => void;
  closeTagHandler?: (tag: SaxesTagPlain) => void;
  textHandler?: (text: string) => void;
  cdataHandler?: (text: string) => void;
  errorHandler?: (err: Error) => void;
  doctypeHandler?: (doctype: string) => void;
  commentHandler?: (comment: string) => void;
  piHandler?: (pi: { target: string; body: string }) => void;
}

// XML Namespaces 1.0 §3: the xml prefix is always bound.
const BASE_PREFIXES: Record<string, string> = Object.freeze(Object.assign(Object.create(null), { xml: NS_XML }));

/** Stream error conditions this parser can raise (RFC 6120 §4.9.3). */
export type StreamErrorCondition =
  | "not-well-formed"
  | "restricted-xml"
  | "policy-violation"
  | "bad-format"
  | "invalid-namespace";

/** A fatal problem with the incoming XML; `condition` is the stream error to send. */
export class XmlStreamError extends Error {
  condition: StreamErrorCondition;

  constructor(condition: StreamErrorCondition, message: string) {
    super(message);
    this.name = "XmlStreamError";
    this.condition = condition;
  }
}

/** The opening `<stream:stream>` tag. */
export interface StreamHeader {
  /** Local name (normally "stream"). */
  name: string;
  /** Resolved namespace of the root (normally http://etherx.jabber.org/streams). */
  ns: string;
  /** The prefix used on the root (normally "stream"); "" if none. */
  prefix: string;
  /** Attributes by qualified name, including `xmlns:p` declarations but not the default `xmlns`. */
  attrs: Record<string, string>;
  /** The default namespace declared on the root (the content namespace), "" if none. */
  defaultNs: string;
}

/**
 * Callbacks, invoked synchronously from `write()`. Exceptions they throw are not caught: they
 * propagate out of `write()` and leave the parser stopped.
 */
export interface ParserHandlers {
  /** Root element opened (mode "stream"). */
  streamStart(header: StreamHeader): void;
  /** A complete depth-1 element (mode "stream") or a complete top-level element (mode "fragments"). */
  stanza(el: Element): void;
  /** Root closed (mode "stream"). */
  streamEnd(): void;
  /** Called once; the parser then ignores further input until `reset()`. */
  error(err: XmlStreamError): void;
}

export interface ParserOptions {
  /** Characters of one stanza including markup (and, between stanzas, of pending whitespace). */
  maxStanzaSize: number;
  /** Element nesting inside a stanza; the stanza itself is depth 1 (the stream root is not counted). */
  maxDepth: number;
  /** "stream": one long document (TCP); "fragments": each write() is one WebSocket message. */
  mode?: "stream" | "fragments";
}

const DEFAULTS: ParserOptions = { maxStanzaSize: 262144, maxDepth: 32, mode: "stream" };

/** Thrown through saxes to stop it mid-chunk (after an error or a reset request); never escapes. */
const ABORT: unique symbol = Symbol("abort");
const STREAM_DECODE = { stream: true } as const;
const WHITESPACE = /^[ \t\r\n]*$/;

// Fragments mode wraps each message in a synthetic root that sets the default namespace, so
// implicit-namespace stanzas get jabber:client (RFC 7395 §3.3.3) and parsing is the same as in
// stream mode with stanzas at depth 1.
const FRAME_NAME = "warbler-frame";
const FRAME_OPEN = `<${FRAME_NAME} xmlns="${NS_CLIENT}">`;
const FRAME_CLOSE = `</${FRAME_NAME}>`;

/**
 * Incremental XMPP stream parser. Feed it socket chunks; it reports the stream header, each
 * complete stanza as an `Element` (names and namespaces resolved), the stream end, or one error.
 *
 * Limits are checked on every saxes event and after every chunk, so memory held for an incomplete
 * stanza stays within about `maxStanzaSize` plus one chunk.
 */
export class StreamParser {
  private readonly handlers: ParserHandlers;
  private readonly maxSize: number;
  private readonly maxDepth: number;
  private readonly fragments: boolean;
  private readonly sax: SaxesParser<{ xmlns: false }>;
  private decoder = new TextDecoder("utf-8", { fatal: true });

  /** Open elements, counting the root: 1 = inside the root, 2 = inside a stanza... */
  private level = 0;
  /** Elements of the stanza being built, outermost first. */
  private stack: Element[] = [];
  /** Namespace scope of the open element at each level; [0] is the document's. */
  private scopes: Scope[] = [{ dflt: "", prefixes: BASE_PREFIXES }];
  // The tag being opened, gathered from saxes' attribute events.
  private tagAttrs: Record<string, string> | undefined = undefined;
  private tagDefault: string | undefined = undefined;
  private tagDecls: string[] | undefined = undefined;
  private tagPrefixed = false;
  /**
   * Completed stanzas not yet handed out. In stream mode a stanza is emitted at the next parser
   * event (or the end of the chunk): saxes reports a close tag before checking that its name
   * matches, and a mismatch must not deliver the stanza. In fragments mode, a message's stanzas
   * are emitted only once the whole message has parsed.
   */
  private pending: Element[] = [];
  private pendingEnd = false;
  /** Characters handed to saxes since its last (re)initialisation: its `position` coordinates. */
  private fed = 0;
  /** Where the current unit started: the stanza's `<`, or the end of the previous stanza. */
  private unitStart = 0;
  private stopped = false;
  private writing = false;
  private resetRequested = false;
  private queue: (Buffer | string)[] | null = null;

  constructor(handlers: ParserHandlers, options: Partial<ParserOptions> = {}) {
    this.handlers = handlers;
    this.maxSize = options.maxStanzaSize ?? DEFAULTS.maxStanzaSize;
    this.maxDepth = options.maxDepth ?? DEFAULTS.maxDepth;
    this.fragments = (options.mode ?? DEFAULTS.mode) === "fragments";
    // Namespaces are resolved here rather than by saxes (xmlns: true halves its throughput).
    // RFC 6120 §11.6: XML 1.0 only, whatever a declaration claims.
    this.sax = new SaxesParser({ xmlns: false, forceXMLVersion: true, defaultXMLVersion: "1.0" });
    // saxes' on() stores handlers with a computed key; from the 8th handler on, V8 turns the
    // parser object into a dictionary and every field read in its hot loop becomes a hash lookup
    // (throughput fell about fourfold). Named stores keep it a fast object. Handlers are bound
    // once here and survive resets (saxes' _init keeps them).
    const slots = this.sax as unknown as SaxesHandlerSlots;
    slots.attributeHandler = this.onAttribute.bind(this);
    slots.openTagHandler = this.onOpenTag.bind(this);
    slots.closeTagHandler = this.onCloseTag.bind(this);
    slots.textHandler = this.onText.bind(this);
    slots.cdataHandler = this.onCData.bind(this);
    slots.errorHandler = this.onSaxError.bind(this);
    // RFC 6120 §11.1: no DTD, no comments, no processing instructions (the XML declaration is
    // reported by saxes as "xmldecl", not as a processing instruction, and stays allowed).
    slots.doctypeHandler = () => this.fail("restricted-xml", "DTD not allowed");
    slots.commentHandler = () => this.fail("restricted-xml", "comment not allowed");
    slots.piHandler = () => this.fail("restricted-xml", "processing instruction not allowed");
  }

  /** Parses a chunk of the stream. Never throws for bad input: errors go to `handlers.error`. */
  write(chunk: Buffer | string): void {
    if (this.stopped) return;
    if (this.writing) {
      // Written from inside a handler: parse after the current chunk.
      (this.queue ??= []).push(chunk);
      return;
    }
    this.writing = true;
    try {
      this.feed(chunk);
      const q = this.queue;
      if (q !== null) {
        for (let i = 0; i < q.length && !this.stopped; i++) this.feed(q[i]!);
      }
    } finally {
      this.writing = false;
      this.queue = null;
    }
  }

  /**
   * Starts a fresh parser (RFC 6120 §4.3.3 stream restart after STARTTLS / SASL success). Any bytes
   * written after this are parsed as a new document. Called from a handler, the rest of the chunk
   * being parsed is discarded: bytes that arrived before the restart must not be read as part of
   * the new stream (RFC 6120 §5.3.3, the STARTTLS plaintext-injection problem). Also clears a
   * previous error.
   */
  reset(): void {
    if (this.writing) {
      this.resetRequested = true;
      return;
    }
    this.doReset();
  }

  /** No more input (connection closed): releases buffers; no callbacks follow. */
  end(): void {
    this.stopped = true;
    if (!this.writing) this.clear();
  }

  private doReset(): void {
    this.clear();
    this.decoder = new TextDecoder("utf-8", { fatal: true });
    this.stopped = false;
  }

  private clear(): void {
    this.sax._init();
    this.level = 0;
    this.stack = [];
    this.scopes.length = 1;
    this.tagAttrs = undefined;
    this.tagDefault = undefined;
    this.tagDecls = undefined;
    this.tagPrefixed = false;
    this.pending = [];
    this.pendingEnd = false;
    this.fed = 0;
    this.unitStart = 0;
    this.resetRequested = false;
  }

  private feed(chunk: Buffer | string): void {
    try {
      let text: string;
      if (typeof chunk === "string") {
        text = chunk;
      } else {
        try {
          // A WebSocket message must hold whole characters; a TCP chunk may end inside one.
          text = this.fragments ? this.decoder.decode(chunk) : this.decoder.decode(chunk, STREAM_DECODE);
        } catch {
          this.fail("not-well-formed", "invalid UTF-8"); // RFC 6120 §11.6
        }
      }
      const sax = this.sax;
      if (this.fragments) {
        // RFC 7395 §3.3.3: each message is complete in itself; parse it as its own document.
        this.clear();
        sax.write(FRAME_OPEN);
        sax.write(text);
        sax.write(FRAME_CLOSE);
        sax.close(); // reports unclosed tags or unfinished markup, then reinitialises saxes
        this.fed = 0;
        this.unitStart = 0;
        this.flush();
        return;
      }
      if (text.length === 0) return;
      sax.write(text);
      this.fed += text.length;
      if (this.pending.length !== 0 || this.pendingEnd) this.flush();
      // A single text node or attribute may span many chunks without an event: bound it here.
      if (this.fed - this.unitStart > this.maxSize) this.tooLarge();
    } catch (e) {
      if (e !== ABORT) {
        this.stopped = true;
        throw e;
      }
      if (this.resetRequested) this.doReset();
    }
  }

  /** Reports the error once, stops the parser and unwinds saxes. */
  private fail(condition: StreamErrorCondition, message: string): never {
    if (!this.stopped) {
      this.stopped = true;
      this.pending = [];
      this.pendingEnd = false;
      this.handlers.error(new XmlStreamError(condition, message));
    }
    throw ABORT;
  }

  private tooLarge(): never {
    // RFC 6120 §13.12 (4): a server may limit stanza size; policy-violation is the stream error.
    this.fail("policy-violation", `stanza larger than ${this.maxSize} characters`);
  }

  private onSaxError(err: Error): void {
    const m = err.message;
    // RFC 6120 §11.1: entities other than the predefined ones are restricted, not malformed.
    if (m.includes("undefined entity") || m.includes("doctype")) this.fail("restricted-xml", m);
    this.fail("not-well-formed", m);
  }

  /** Hands completed stanzas (and a pending stream end) to the handlers, in order. */
  private flush(): void {
    const list = this.pending;
    for (let i = 0; i < list.length; i++) {
      this.handlers.stanza(list[i]!);
      if (this.resetRequested || this.stopped) throw ABORT;
    }
    list.length = 0;
    if (this.pendingEnd) {
      this.pendingEnd = false;
      this.handlers.streamEnd();
      if (this.resetRequested || this.stopped) throw ABORT;
    }
  }

  // Attributes arrive one by one before their tag's opentag event. Collecting them here builds
  // the Element's attrs as an ordinary object (saxes' own map is a slow null-prototype dictionary)
  // and picks out namespace declarations on the way.
  private onAttribute(attr: { name: string; value: string }): void {
    const k = attr.name;
    const v = attr.value;
    if (k.charCodeAt(0) === 120 /* x */ && k.startsWith("xmlns")) {
      if (k.length === 5) {
        this.tagDefault = v; // the default declaration becomes Element.ns, not an attribute
        return;
      }
      if (k.charCodeAt(5) === 58 /* : */) {
        (this.tagDecls ??= []).push(k.slice(6), v);
        (this.tagAttrs ??= {})[k] = v; // kept so that prefixed names stay valid when serialized
        return;
      }
    }
    if (!this.tagPrefixed && k.indexOf(":") !== -1) this.tagPrefixed = true;
    (this.tagAttrs ??= {})[k] = v;
  }

  private onOpenTag(tag: SaxesTagPlain): void {
    if (!this.fragments && this.pending.length !== 0) this.flush();
    const level = ++this.level;
    if (level - 1 > this.maxDepth) {
      this.fail("policy-violation", `elements nested deeper than ${this.maxDepth}`);
    }
    const attrs = this.tagAttrs ?? {};
    const declaredDefault = this.tagDefault;
    const decls = this.tagDecls;
    const prefixed = this.tagPrefixed;
    this.tagAttrs = undefined;
    this.tagDefault = undefined;
    this.tagDecls = undefined;
    this.tagPrefixed = false;

    // Namespace processing (XML Namespaces 1.0 §3-§6): this tag's declarations, then its names.
    const parent = this.scopes[level - 1]!;
    let scope = parent;
    if (declaredDefault !== undefined || decls !== undefined) scope = this.declare(parent, declaredDefault, decls);
    this.scopes[level] = scope;
    if (prefixed) this.checkPrefixedAttrs(attrs, scope, level);
    const qname = tag.name;
    const colon = qname.indexOf(":");
    let local = qname;
    let prefix = "";
    let ns = scope.dflt;
    if (colon !== -1) {
      prefix = qname.slice(0, colon);
      local = qname.slice(colon + 1);
      ns = this.resolvePrefix(scope, prefix, local);
    }

    if (level === 1) {
      const pos = this.sax.position;
      if (pos - this.unitStart > this.maxSize) this.tooLarge(); // prologue and stream header
      this.unitStart = pos;
      if (!this.fragments) this.openRoot(local, ns, prefix, attrs, declaredDefault ?? "");
      return;
    }
    const el = new Element(local, ns, attrs);
    const stack = this.stack;
    if (level !== 2) stack[stack.length - 1]!.children.push(el);
    stack.push(el);
    if (this.sax.position - this.unitStart > this.maxSize) this.tooLarge();
  }

  private openRoot(name: string, ns: string, prefix: string, attrs: Record<string, string>, defaultNs: string): void {
    // RFC 6120 §4.8.1: the root must be <stream> in the streams namespace.
    if (ns !== NS_STREAM) this.fail("invalid-namespace", "stream namespace is not " + NS_STREAM);
    if (name !== "stream") this.fail("bad-format", "root element is not <stream>");
    this.handlers.streamStart({ name, ns, prefix, attrs, defaultNs });
    if (this.resetRequested || this.stopped) throw ABORT;
  }

  // Namespace well-formedness (XML Namespaces 1.0 §3, §5, §6.3): violations are not-well-formed.

  private declare(parent: Scope, dflt: string | undefined, decls: string[] | undefined): Scope {
    const scope: Scope = { dflt: parent.dflt, prefixes: parent.prefixes };
    if (dflt !== undefined) {
      if (dflt === NS_XML || dflt === NS_XMLNS) this.malformed("reserved namespace as default");
      scope.dflt = dflt; // "" undeclares the default namespace
    }
    if (decls !== undefined) {
      const prefixes = (scope.prefixes = Object.create(parent.prefixes) as Record<string, string>);
      for (let i = 0; i < decls.length; i += 2) {
        const p = decls[i]!;
        const uri = decls[i + 1]!;
        if (p === "" || p.indexOf(":") !== -1) this.malformed("malformed namespace declaration");
        if (p === "xmlns") this.malformed("the xmlns prefix cannot be declared");
        if ((p === "xml") !== (uri === NS_XML)) this.malformed("the xml prefix is bound to its namespace only");
        if (uri === NS_XMLNS) this.malformed("the xmlns namespace cannot be bound");
        if (uri === "") this.malformed("empty namespace for prefix " + p); // no undeclaring in 1.0
        prefixes[p] = uri;
      }
    }
    return scope;
  }

  private resolvePrefix(scope: Scope, prefix: string, local: string): string {
    if (prefix === "" || local === "" || local.indexOf(":") !== -1) this.malformed("malformed name");
    if (prefix === "xmlns") this.malformed("elements cannot use the xmlns prefix");
    const uri = scope.prefixes[prefix];
    if (uri === undefined) this.malformed("undeclared namespace prefix " + prefix);
    return uri;
  }

  /**
   * Prefixed attributes must use declared prefixes and be unique by expanded name (§6.3). A prefix
   * declared on the stream root is copied onto the stanza, which must stay well-formed on its own.
   */
  private checkPrefixedAttrs(attrs: Record<string, string>, scope: Scope, level: number): void {
    let seen: string[] | undefined;
    for (const k in attrs) {
      const colon = k.indexOf(":");
      if (colon === -1 || k.startsWith("xmlns:")) continue;
      const prefix = k.slice(0, colon);
      const local = k.slice(colon + 1);
      const uri = this.resolvePrefix(scope, prefix, local);
      if (level >= 2 && prefix !== "xml") this.importRootPrefix(prefix, uri, level === 2 ? attrs : this.stack[0]!.attrs);
      const expanded = uri + " " + local;
      if (seen === undefined) seen = [expanded];
      else if (seen.includes(expanded)) this.malformed("duplicate attribute " + local);
      else seen.push(expanded);
    }
  }

  private importRootPrefix(prefix: string, uri: string, stanzaAttrs: Record<string, string>): void {
    const decl = "xmlns:" + prefix;
    if (stanzaAttrs[decl] !== undefined) return;
    // Declared inside the stanza below its top element: the declaration travels with it already.
    const scopes = this.scopes;
    for (let l = 3; l <= this.level; l++) {
      const own = scopes[l]!.prefixes;
      if (own !== scopes[l - 1]!.prefixes && Object.hasOwn(own, prefix)) return;
    }
    if (this.scopes[1]!.prefixes[prefix] === uri) stanzaAttrs[decl] = uri;
  }

  private malformed(message: string): never {
    this.fail("not-well-formed", message);
  }

  private onCloseTag(): void {
    if (!this.fragments && this.pending.length !== 0) this.flush();
    const level = this.level--;
    if (level === 1) {
      const pos = this.sax.position;
      if (pos - this.unitStart > this.maxSize) this.tooLarge();
      this.unitStart = pos;
      if (!this.fragments) this.pendingEnd = true;
      return;
    }
    const el = this.stack.pop()!;
    if (level === 2) {
      const pos = this.sax.position;
      if (pos - this.unitStart > this.maxSize) this.tooLarge();
      this.unitStart = pos;
      this.pending.push(el);
    }
  }

  private onText(text: string): void {
    if (!this.fragments && this.pending.length !== 0) this.flush();
    const level = this.level;
    if (level >= 2) {
      this.appendText(text);
    } else if (level === 1) {
      // Whitespace keepalives between stanzas (RFC 6120 §4.6.1) are fine; other text is not.
      if (!WHITESPACE.test(text)) this.fail("not-well-formed", "text between stanzas");
      // The text event fires on the `<` that starts the next stanza: measure it from there.
      this.unitStart = this.sax.position - 1;
    }
    // Text outside the root: saxes itself rejects anything but whitespace.
  }

  private onCData(text: string): void {
    if (!this.fragments && this.pending.length !== 0) this.flush();
    if (this.level >= 2) this.appendText(text);
    else if (!WHITESPACE.test(text)) this.fail("not-well-formed", "text between stanzas");
  }

  private appendText(text: string): void {
    const children = this.stack[this.stack.length - 1]!.children;
    const last = children.length - 1;
    // Merge with preceding text (e.g. text around a CDATA section) so text() stays cheap.
    if (last >= 0 && typeof children[last] === "string") children[last] += text;
    else children.push(text);
    if (this.sax.position - this.unitStart > this.maxSize) this.tooLarge();
  }
}

