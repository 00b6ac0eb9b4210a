// Stanza errors (RFC 6120 §8.3) and stream errors (RFC 6120 §4.9): the one catalogue of
// error conditions handlers throw and the core turns into XML.
import { Element, x } from "../xml/element.js";

export const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
export const NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams";

/** RFC 6120 §8.3.3 defined conditions, with the error type §8.3.2 suggests for each. */
export const STANZA_CONDITIONS = {
  "bad-request": "modify",
  conflict: "cancel",
  "feature-not-implemented": "cancel",
  forbidden: "auth",
  gone: "cancel",
  "internal-server-error": "cancel",
  "item-not-found": "cancel",
  "jid-malformed": "modify",
  "not-acceptable": "modify",
  "not-allowed": "cancel",
  "not-authorized": "auth",
  "policy-violation": "modify",
  "recipient-unavailable": "wait",
  redirect: "modify",
  "registration-required": "auth",
  "remote-server-not-found": "cancel",
  "remote-server-timeout": "wait",
  "resource-constraint": "wait",
  "service-unavailable": "cancel",
  "subscription-required": "auth",
  "undefined-condition": "cancel",
  "unexpected-request": "wait",
} as const;

export type StanzaCondition = keyof typeof STANZA_CONDITIONS;
export type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

/** Thrown by handlers; the core answers the request with it (RFC 6120 §8.3). */
export class StanzaError extends Error {
  readonly condition: StanzaCondition;
  readonly type: StanzaErrorType;
  readonly text: string | undefined;
  /** Application-specific condition element, e.g. XEP-0363 <file-too-large/>. */
  readonly appCondition: Element | undefined;

  constructor(condition: StanzaCondition, text?: string, opts: { type?: StanzaErrorType; app?: Element } = {}) {
    super(text ?? condition);
    this.condition = condition;
    this.type = opts.type ?? STANZA_CONDITIONS[condition];
    this.text = text;
    this.appCondition = opts.app;
  }

  /** The <error/> child (RFC 6120 §8.3.2). */
  toElement(by?: string): Element {
    return x(
      "error",
      { type: this.type, by },
      x(this.condition, { xmlns: NS_STANZAS }),
      this.text !== undefined ? x("text", { xmlns: NS_STANZAS, "xml:lang": "en" }, this.text) : null,
      this.appCondition ?? null,
    );
  }
}

/**
 * Builds the error reply to a stanza (RFC 6120 §8.3.1): same kind and id, addresses swapped,
 * type "error", the original payload included for messages and presence so the sender can tell
 * what failed, never for IQs (results are small and the request is known by id).
 */
export function errorReply(stanza: Element, err: StanzaError, includeOriginal = stanza.name !== "iq"): Element {
  const attrs: Record<string, string> = { type: "error" };
  if (stanza.attrs.id !== undefined) attrs.id = stanza.attrs.id;
  if (stanza.attrs.from !== undefined) attrs.to = stanza.attrs.from;
  if (stanza.attrs.to !== undefined) attrs.from = stanza.attrs.to;
  const reply = new Element(stanza.name, stanza.ns || "jabber:client", attrs);
  if (includeOriginal) for (const c of stanza.children) if (typeof c !== "string" || c.trim() !== "") reply.append(typeof c === "string" ? c : c.clone());
  reply.append(err.toElement());
  return reply;
}

/** RFC 6120 §4.9.3 stream error conditions. */
export type StreamCondition =
  | "bad-format"
  | "bad-namespace-prefix"
  | "conflict"
  | "connection-timeout"
  | "host-gone"
  | "host-unknown"
  | "improper-addressing"
  | "internal-server-error"
  | "invalid-from"
  | "invalid-namespace"
  | "invalid-xml"
  | "not-authorized"
  | "not-well-formed"
  | "policy-violation"
  | "remote-connection-failed"
  | "reset"
  | "resource-constraint"
  | "restricted-xml"
  | "see-other-host"
  | "system-shutdown"
  | "undefined-condition"
  | "unsupported-encoding"
  | "unsupported-feature"
  | "unsupported-stanza-type"
  | "unsupported-version";

/** A fatal stream-level error: the stream is closed after sending it (RFC 6120 §4.9.1.1). */
export class StreamError extends Error {
  readonly condition: StreamCondition;
  readonly text: string | undefined;
  constructor(condition: StreamCondition, text?: string) {
    super(text ?? condition);
    this.condition = condition;
    this.text = text;
  }

  toElement(): Element {
    return x(
      "error",
      { xmlns: "http://etherx.jabber.org/streams" },
      x(this.condition, { xmlns: NS_STREAMS }),
      this.text !== undefined ? x("text", { xmlns: NS_STREAMS, "xml:lang": "en" }, this.text) : null,
    );
  }
}
