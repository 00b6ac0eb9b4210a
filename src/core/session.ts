// A client session (RFC 6120 §4–§7): stream negotiation (STARTTLS, SASL, resource binding) and
// the stanza checks the server owes every client stanza (§8.1), over any transport. TCP and
// WebSocket (RFC 7395) differ only in framing; handlers never see sockets.
import { randomBytes } from "node:crypto";
import { Element, escapeAttr, escapeText, x } from "../xml/element.js";
import { StreamParser, XmlStreamError, type StreamHeader } from "../xml/parser.js";
import { Jid, prepResource, tryParseJid } from "../jid/jid.js";
import { STANZA_CONDITIONS, StanzaError, StreamError, errorReply } from "./errors.js";
import { NS } from "./namespaces.js";
import type { Core } from "./core.js";
import type { ChannelBinding, SaslMechanism } from "./sasl/types.js";
import { createMechanism, mechanismsFor } from "./sasl/index.js";
import type { Logger } from "./log.js";
import { NS_SM, StreamManagement, parseH } from "./stream-management.js";

/** What a transport offers a session; the session never sees the socket itself. */
export interface Transport {
  /** "tcp" carries one XML document per stream; "websocket" one element per message (RFC 7395). */
  readonly kind: "tcp" | "websocket";
  readonly remoteAddress: string;
  /** True once TLS protects the connection (Direct TLS, after STARTTLS, or wss). */
  readonly secure: boolean;
  /** Whether STARTTLS can be offered (plain TCP with a certificate for the host). */
  canStartTls(host: string): boolean;
  /** Channel binding data when on TLS. */
  channelBinding(): ChannelBinding | undefined;
  write(data: string): void;
  /** Upgrades to TLS (RFC 6120 §5.4.3.3) for `host`; input after <proceed/> is discarded meanwhile. */
  startTls(host: string): Promise<void>;
  /** Flushes and closes the connection. */
  close(): void;
}

/** XEP-0440 SASL channel-binding type capability. */
const NS_SASL_CB = "urn:xmpp:sasl-cb:0";

type State = "header" | "negotiating" | "tls" | "hibernating" | "closed";

/** A stanza (as opposed to a nonza) in the client namespace: what XEP-0198 counts. */
function isStanza(el: Element): boolean {
  return el.ns === NS.CLIENT && (el.name === "message" || el.name === "presence" || el.name === "iq");
}

/** One client session from connection to close. */
export class Session {
  readonly id = randomBytes(9).toString("base64url");
  transport: Transport;
  private readonly core: Core;
  readonly log: Logger;
  private parser: StreamParser;
  private state: State = "header";
  private headerSent = false;
  /** The served domain this stream is for. */
  host = "";
  /** Bare JID after authentication, full JID after binding. */
  jid: Jid | undefined;
  authenticated = false;
  bound = false;
  /** Last available presence broadcast by the client (RFC 6121 §4.2), undefined while unavailable. */
  presence: Element | undefined;
  priority = 0;
  /** The client asked for its roster (RFC 6121 §2.1.6: "interested resource"). */
  interested = false;
  /** Per-session state owned by modules, keyed by module name. */
  readonly data = new Map<string, unknown>();
  readonly connectedAt = Date.now();

  private sasl: SaslMechanism | undefined;
  private saslBusy = false;
  private queue: Promise<void> = Promise.resolve();
  private out: string[] = [];
  private flushScheduled = false;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private rateWindowStart = 0;
  private rateCount = 0;
  /** XEP-0198 state once the client enabled stream management. */
  sm: StreamManagement | undefined;
  /** Stanzas routed whose writes are not yet durable: the last of them, counted in order (see onStanza). */
  private counting: Promise<void> | undefined;
  private hibernateTimer: NodeJS.Timeout | undefined;

  constructor(core: Core, transport: Transport) {
    this.core = core;
    this.transport = transport;
    this.log = core.log.child({ session: this.id });
    this.parser = this.makeParser();
    const timeout = core.config.limits.streamNegotiationTimeoutSeconds * 1000;
    // RFC 6120 §4.9.3.4 connection-timeout: a stream that never finishes negotiation is closed.
    this.negotiationTimer = setTimeout(() => this.streamError(new StreamError("connection-timeout")), timeout);
    this.negotiationTimer.unref();
  }

  /** The full JID once bound (throws before). */
  get fullJid(): Jid {
    if (!this.jid || !this.bound) throw new Error("session not bound");
    return this.jid;
  }

  get bareJid(): Jid {
    if (!this.jid) throw new Error("session not authenticated");
    return this.jid.bare();
  }

  /** True when the session has sent available presence (RFC 6121 §4.2). */
  get available(): boolean {
    return this.presence !== undefined;
  }

  private makeParser(): StreamParser {
    const limits = this.core.config.limits;
    return new StreamParser(
      {
        streamStart: (h) => this.enqueue(() => this.onStreamStart(h)),
        stanza: (el) => this.enqueue(() => this.onElement(el)),
        streamEnd: () => this.enqueue(async () => this.close()),
        error: (err) => this.enqueue(async () => this.onParseError(err)),
      },
      {
        maxStanzaSize: limits.maxStanzaSize,
        maxDepth: limits.maxDepth,
        mode: this.transport.kind === "websocket" ? "fragments" : "stream",
      },
    );
  }

  /** Bytes from the transport. */
  receive(chunk: Buffer | string): void {
    if (this.state === "closed" || this.state === "tls") return;
    this.parser.write(chunk);
  }

  /**
   * The transport closed underneath us. A resumable session (XEP-0198 §5) waits for the client to
   * come back; stanzas for it are queued meanwhile.
   */
  transportClosed(): void {
    if (this.state === "closed" || this.state === "hibernating") return;
    if (this.sm?.resumable && this.bound && !this.closing) {
      this.state = "hibernating";
      this.out = [];
      const timeout = this.core.config.streamManagement.resumeTimeoutSeconds * 1000;
      this.hibernateTimer = setTimeout(() => {
        this.state = "closed";
        this.finish("resumption timed out");
      }, timeout);
      this.hibernateTimer.unref();
      this.log.info("connection lost; waiting for resumption");
      return;
    }
    this.state = "closed";
    this.finish("connection closed");
  }

  /** True while a resumable session waits for its client to come back. */
  get hibernating(): boolean {
    return this.state === "hibernating";
  }

  // Stanzas of one session are processed in order, one at a time (RFC 6120 §10.1: in-order processing).
  private enqueue(fn: () => Promise<void> | void): void {
    this.queue = this.queue.then(fn).catch((err: unknown) => {
      this.log.error({ err: errorSummary(err) }, "unexpected error in session");
      this.streamError(new StreamError("internal-server-error"));
    });
  }

  // ---- output ----

  /** Writes a stanza or nonza to the client (through "stanza/deliver" hooks for stanzas). */
  send(el: Element): void {
    if (this.state === "closed" || this.closing) return;
    const sm = this.sm;
    if (sm && isStanza(el)) {
      sm.sent(el);
      if (sm.queue.length > this.core.config.streamManagement.maxUnacked) {
        // XEP-0198 §4: too many unacknowledged stanzas; what is queued is rerouted on close
        if (this.state === "hibernating") {
          this.state = "closed";
          this.finish("too many unacknowledged stanzas");
        } else this.streamError(new StreamError("resource-constraint", "Too many unacknowledged stanzas"));
        return;
      }
    }
    if (this.state === "hibernating") return; // kept in the SM queue until resumption
    if (isStanza(el)) this.countOut(el);
    this.writeRaw(serializeTopLevel(el, this.framed));
  }

  /** RFC 7395: every message is a document of its own, so namespaces are declared on each element. */
  private get framed(): boolean {
    return this.transport.kind === "websocket";
  }

  private countOut(el: Element): void {
    this.core.counters.stanzasOut.inc({ kind: el.name });
    if (el.attrs.type !== "error") return;
    const cond = el.getChild("error")?.children.find((c): c is Element => typeof c !== "string" && c.ns === NS.STANZAS)?.name;
    this.core.counters.stanzaErrors.inc({ condition: cond !== undefined && cond in STANZA_CONDITIONS ? cond : "other" });
  }

  /** Queues serialized output; each call is one top-level element (one WebSocket message when framed). */
  writeRaw(s: string): void {
    if (this.state === "closed" || this.state === "hibernating") return;
    if (this.core.log.level === "trace") this.log.trace({ out: s }, "send");
    this.out.push(s);
    // Written at the turn's end with every other session's output, or sooner in a long turn
    const first = !this.flushScheduled;
    this.flushScheduled = true; // before: the batch may flush this session at once
    this.core.output.queued(this, s.length, first);
  }

  /** Writes what is queued (the core's output batch calls this; see output-batch.ts). */
  flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.state === "hibernating") return;
    const sm = this.sm;
    if (sm && !sm.ackRequested && sm.queue.length > 0 && !this.closing) {
      // XEP-0198 §4: ask the client to acknowledge what it got
      sm.ackRequested = true;
      this.out.push(`<r xmlns="${NS_SM}"/>`);
    }
    const out = this.out;
    this.out = [];
    // RFC 7395 §3.3.3: one element per WebSocket message; TCP takes them in one write
    if (this.framed) for (const item of out) this.transport.write(item);
    else this.transport.write(out.length === 1 ? out[0]! : out.join(""));
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    const streamId = randomBytes(12).toString("base64url");
    const from = this.host || this.core.defaultHost;
    if (this.transport.kind === "websocket") {
      // RFC 7395 §3.3.2
      this.writeRaw(`<open xmlns="${NS.FRAMING}" id="${streamId}" from="${from}" version="1.0" xml:lang="en"/>`);
    } else {
      this.writeRaw(
        `<?xml version='1.0'?><stream:stream xmlns="${NS.CLIENT}" xmlns:stream="${NS.STREAM}" id="${streamId}" from="${from}" version="1.0" xml:lang="en">`,
      );
    }
  }

  /** Sends a stream error and closes (RFC 6120 §4.9.1.1). */
  streamError(err: StreamError): void {
    if (this.state === "closed" || this.closing) return;
    this.log.info({ condition: err.condition }, "stream error");
    this.core.counters.streamErrors.inc({ condition: err.condition });
    if (!this.headerSent) this.sendHeader(); // RFC 6120 §4.9.1.2: header first, then the error
    // RFC 7395 §3.6: over WebSocket the error is followed by <close/> (written by close())
    this.writeRaw(serializeTopLevel(err.toElement(), this.framed));
    this.close(err.condition);
  }

  /** Closes the stream cleanly (RFC 6120 §4.4) and the transport. */
  close(reason = "closed"): void {
    if (this.state === "closed" || this.closing) return;
    this.closing = true;
    if (!this.headerSent) this.sendHeader();
    this.writeRaw(this.transport.kind === "websocket" ? `<close xmlns="${NS.FRAMING}"/>` : "</stream:stream>");
    this.flush();
    this.state = "closed";
    this.transport.close();
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.negotiationTimer) clearTimeout(this.negotiationTimer);
    if (this.hibernateTimer) clearTimeout(this.hibernateTimer);
    // XEP-0198 §4: stanzas the client never acknowledged are not lost: the core reroutes them
    const unacked = this.sm?.drain() ?? [];
    this.core.sessionClosed(this, reason, unacked);
  }

  // ---- input ----

  private onParseError(err: XmlStreamError): void {
    this.streamError(new StreamError(err.condition, err.message));
  }

  private onStreamStart(h: StreamHeader): void {
    // RFC 6120 §4.7.1 'to': the served domain; absent means our default host.
    const to = h.attrs.to;
    let host = this.core.defaultHost;
    if (to !== undefined) {
      const j = tryParseJid(to);
      if (!j || !this.core.isLocalHost(j.domain) || j.local !== "" || j.resource !== "") {
        this.host = this.core.defaultHost;
        return this.streamError(new StreamError("host-unknown")); // RFC 6120 §4.9.3.6
      }
      host = j.domain;
    }
    if (this.authenticated && host !== this.host) return this.streamError(new StreamError("host-unknown"));
    this.host = host;
    if (this.transport.kind === "websocket") {
      // RFC 7395 §3.3.1: <open/> in the framing namespace
      if (h.name !== "open" || h.ns !== NS.FRAMING) return this.streamError(new StreamError("invalid-namespace"));
    } else {
      // RFC 6120 §4.8.1 stream namespace, §4.8.2 content namespace
      if (h.name !== "stream" || h.ns !== NS.STREAM) return this.streamError(new StreamError("invalid-namespace"));
      if (h.defaultNs !== NS.CLIENT) return this.streamError(new StreamError("invalid-namespace"));
    }
    // RFC 6120 §4.7.5: no version means pre-1.0, which we do not speak; a higher major version is
    // answered with ours (1.0).
    const version = h.attrs.version;
    const m = version === undefined ? null : /^(\d+)\.(\d+)$/.exec(version);
    if (!m || Number(m[1]) < 1) return this.streamError(new StreamError("unsupported-version"));
    this.sendHeader();
    this.state = "negotiating";
    this.sendFeatures();
  }

  private sendFeatures(): void {
    const features = x("features", { xmlns: NS.STREAM });
    const tlsRequired = this.core.config.c2s.requireTls;
    if (!this.authenticated) {
      if (!this.transport.secure && this.transport.canStartTls(this.host)) {
        // RFC 6120 §5.3.1: STARTTLS mandatory-to-negotiate when we require TLS
        features.append(x("starttls", { xmlns: NS.TLS }, tlsRequired ? x("required") : null));
      }
      if (this.transport.secure || !tlsRequired) {
        const mechs = this.offeredMechanisms();
        features.append(x("mechanisms", { xmlns: NS.SASL }, ...mechs.map((m) => x("mechanism", null, m))));
        // XEP-0440 §3: which channel-binding types -PLUS mechanisms can use here, so clients
        // pick one we support instead of failing (and falling back with the "y" flag, which
        // RFC 5802 §6 makes us refuse as a possible downgrade).
        const cbTypes = this.transport.channelBinding()?.types ?? [];
        if (cbTypes.length > 0) {
          features.append(x("sasl-channel-binding", { xmlns: NS_SASL_CB }, ...cbTypes.map((t) => x("channel-binding", { type: t }))));
        }
        for (const f of this.core.streamFeatures("pre-auth", this)) features.append(f);
      }
    } else {
      features.append(x("bind", { xmlns: NS.BIND }));
      // RFC 6121 legacy session establishment, optional (draft-cridland-xmpp-session-01)
      features.append(x("session", { xmlns: NS.SESSION }, x("optional")));
      features.append(x("sm", { xmlns: NS_SM })); // XEP-0198 §3
      for (const f of this.core.streamFeatures("post-auth", this)) features.append(f);
    }
    this.send(features);
  }

  private offeredMechanisms(): string[] {
    const cb = this.transport.channelBinding();
    return mechanismsFor({
      tls: this.transport.secure,
      channelBindingTypes: cb?.types ?? [],
      allowPlain: this.core.config.auth.allowPlain,
      sha256: !this.core.accounts.hasSha1OnlyAccounts(this.host),
    });
  }

  private async onElement(el: Element): Promise<void> {
    if (this.state === "closed" || this.closing) return;
    // RFC 7395 §3.3.2/§3.6: <open/> and <close/> arrive as elements (the parser's fragments mode
    // reports every message as one), so they are recognized before the header check.
    if (this.framed && el.ns === NS.FRAMING) {
      if (el.name === "close") return this.close(); // RFC 7395 §3.6
      if (el.name === "open") {
        if (this.state !== "header") return this.streamError(new StreamError("not-well-formed")); // no restart mid-stream
        return this.onStreamStart({ name: "open", ns: NS.FRAMING, prefix: "", attrs: el.attrs, defaultNs: NS.CLIENT });
      }
    }
    if (this.state === "header") {
      // RFC 7395 §3.3.1: a WebSocket stream starts with <open/>; anything else (e.g. an unframed
      // <stream:stream>) is in the wrong namespace
      return this.streamError(new StreamError(this.framed ? "invalid-namespace" : "not-well-formed"));
    }
    if (!this.authenticated) return this.onNegotiationElement(el);
    if (!this.bound) return this.onBindElement(el);
    return this.onStanza(el);
  }

  // RFC 6120 §5 (STARTTLS) and §6 (SASL)
  private async onNegotiationElement(el: Element): Promise<void> {
    if (el.ns === NS.TLS && el.name === "starttls") {
      if (this.transport.secure || !this.transport.canStartTls(this.host)) {
        // RFC 6120 §5.4.2.2: failure, then close the stream
        this.send(x("failure", { xmlns: NS.TLS }));
        return this.close("starttls failure");
      }
      this.send(x("proceed", { xmlns: NS.TLS }));
      this.flush();
      this.state = "tls";
      try {
        await this.transport.startTls(this.host);
      } catch (err) {
        this.log.info({ err: errorSummary(err) }, "TLS handshake failed");
        this.state = "closed";
        this.transport.close();
        this.finish("tls failure");
        return;
      }
      // RFC 6120 §5.4.3.3: both sides discard the old stream; a new header follows.
      this.parser = this.makeParser();
      this.headerSent = false;
      this.state = "header";
      return;
    }
    const tlsRequired = this.core.config.c2s.requireTls && !this.transport.secure;
    if (el.ns === NS.SASL) {
      if (tlsRequired) {
        // RFC 6120 §5.3.1: TLS is mandatory-to-negotiate before SASL here
        this.send(x("failure", { xmlns: NS.SASL }, x("encryption-required")));
        return;
      }
      return this.onSasl(el);
    }
    // XEP-0077 in-band registration and other handlers allowed before authentication
    if (el.is("iq", NS.CLIENT) && !tlsRequired) {
      const handled = await this.core.handlePreAuthIq(this, el);
      if (handled) return;
    }
    // RFC 6120 §4.9.3.12 not-authorized: stanzas before authentication
    return this.streamError(new StreamError("not-authorized"));
  }

  private async onSasl(el: Element): Promise<void> {
    if (this.saslBusy) return this.streamError(new StreamError("policy-violation"));
    this.saslBusy = true;
    try {
      await this.saslStep(el);
    } finally {
      this.saslBusy = false;
    }
  }

  private async saslStep(el: Element): Promise<void> {
    const fail = (condition: string, text?: string) => {
      this.sasl = undefined;
      this.send(x("failure", { xmlns: NS.SASL }, x(condition), text ? x("text", { "xml:lang": "en" }, text) : null));
    };
    if (el.name === "abort") return fail("aborted"); // RFC 6120 §6.4.4
    const addr = this.transport.remoteAddress;
    if (el.name === "auth") {
      if (!this.core.authThrottle.allowed(addr)) {
        // RFC 6120 §6.4.5: the server limits retries; further attempts are refused for a while
        fail("temporary-auth-failure", "Too many failed attempts; try again later");
        return;
      }
      const name = el.attrs.mechanism ?? "";
      if (!this.offeredMechanisms().includes(name)) return fail("invalid-mechanism"); // RFC 6120 §6.5.5
      const mech = createMechanism(name, this.core.saslContext(this));
      if (!mech) return fail("invalid-mechanism");
      this.sasl = mech;
      const text = el.text().trim();
      let initial: Buffer | undefined;
      if (text === "=") initial = Buffer.alloc(0); // RFC 6120 §6.4.2: "=" is an empty response
      else if (text !== "") {
        const b = decodeBase64(text);
        if (!b) return fail("incorrect-encoding"); // RFC 6120 §6.5.2
        initial = b;
      }
      return this.handleSaslResult(await mech.start(initial), fail);
    }
    if (el.name === "response") {
      if (!this.sasl) return fail("malformed-request");
      const text = el.text().trim();
      const b = text === "" ? Buffer.alloc(0) : decodeBase64(text);
      if (!b) return fail("incorrect-encoding");
      return this.handleSaslResult(await this.sasl.step(b), fail);
    }
    return this.streamError(new StreamError("unsupported-stanza-type"));
  }

  private handleSaslResult(step: Awaited<ReturnType<SaslMechanism["start"]>>, fail: (c: string, t?: string) => void): void {
    if (this.state === "closed") return;
    if (step.kind === "challenge") {
      this.send(x("challenge", { xmlns: NS.SASL }, step.data.length ? step.data.toString("base64") : "="));
      return;
    }
    if (step.kind === "failure") {
      if (step.condition === "not-authorized") this.core.authThrottle.failed(this.transport.remoteAddress);
      this.core.counters.authFailures.inc({ condition: step.condition });
      this.log.info({ condition: step.condition }, "authentication failed");
      return fail(step.condition, step.text);
    }
    // success: RFC 6120 §6.4.6
    this.sasl = undefined;
    this.authenticated = true;
    this.jid = new Jid(step.username, this.host, "");
    this.send(x("success", { xmlns: NS.SASL }, step.data && step.data.length ? step.data.toString("base64") : null));
    this.log.info({ user: this.jid.toString() }, "authenticated");
    // RFC 6120 §6.4.6: stream restart; the client sends a new header
    this.parser.reset();
    this.headerSent = false;
    this.state = "header";
  }

  // RFC 6120 §7 resource binding
  private async onBindElement(el: Element): Promise<void> {
    if (el.ns === NS_SM) {
      if (el.name === "resume") return this.resume(el);
      // XEP-0198 §3: enabling comes after binding
      if (el.name === "enable") return this.send(x("failed", { xmlns: NS_SM }, x("unexpected-request", { xmlns: NS.STANZAS })));
    }
    if (!el.is("iq", NS.CLIENT)) return this.streamError(new StreamError("not-authorized"));
    const bind = el.getChild("bind", NS.BIND);
    const type = el.attrs.type;
    if (bind && type === "set") {
      try {
        const requested = bind.getChildText("resource")?.trim();
        let resource: string | undefined;
        if (requested) {
          try {
            resource = prepResource(requested);
          } catch {
            throw new StanzaError("bad-request", "Invalid resource"); // RFC 6120 §7.7.2.1
          }
        }
        const full = await this.core.bindSession(this, resource);
        this.jid = full;
        this.bound = true;
        if (this.negotiationTimer) clearTimeout(this.negotiationTimer);
        this.send(x("iq", { type: "result", id: el.attrs.id }, x("bind", { xmlns: NS.BIND }, x("jid", null, full.toString()))));
        await this.core.events.emit("session/bound", { session: this });
      } catch (err) {
        this.send(errorReply(el, toStanzaError(err, this.log)));
      }
      return;
    }
    // Before binding only binding (and legacy session) may happen: RFC 6120 §7.1
    if (el.getChild("session", NS.SESSION) && type === "set") {
      this.send(x("iq", { type: "result", id: el.attrs.id }));
      return;
    }
    if (type === "get" || type === "set") this.send(errorReply(el, new StanzaError("not-authorized")));
  }

  private overRate(): boolean {
    const limit = this.core.config.limits.stanzaRatePerSecond;
    if (limit <= 0) return false;
    const now = Date.now();
    if (now - this.rateWindowStart >= 1000) {
      this.rateWindowStart = now;
      this.rateCount = 0;
    }
    return ++this.rateCount > limit;
  }

  private async onStanza(el: Element): Promise<void> {
    if (el.ns === NS_SM) return this.onSmElement(el);
    if (!isStanza(el)) {
      const nonza = this.core.nonzaHandler(el);
      if (nonza) return nonza(this, el);
      if (el.ns === NS.SESSION || el.ns === NS.BIND) return;
      return this.streamError(new StreamError("unsupported-stanza-type")); // RFC 6120 §4.9.3.22
    }
    this.core.counters.stanzasIn.inc({ kind: el.name });
    if (this.overRate()) return this.streamError(new StreamError("policy-violation", "Too many stanzas"));
    // legacy session establishment after binding (RFC 3921 §3): just succeed
    if (el.name === "iq" && el.attrs.type === "set" && el.getChild("session", NS.SESSION)) {
      this.send(x("iq", { type: "result", id: el.attrs.id }));
      return;
    }
    const full = this.fullJid;
    // RFC 6120 §8.1.2.1: the server stamps 'from'; a client-supplied one must be its own JID
    const from = el.attrs.from;
    if (from !== undefined) {
      const f = tryParseJid(from);
      if (!f || !(f.equals(full) || (f.isBare && f.equals(full.bare())))) {
        return this.streamError(new StreamError("invalid-from")); // RFC 6120 §4.9.3.9
      }
    }
    el.attrs.from = full.toString();
    const writes = await this.core.routeFromClient(this, el);
    // XEP-0198 §4: counted once fully handled (stored, delivered or answered). The next stanza
    // does not wait for this one's writes (archive rows) to be durable: it is routed at once, and
    // the count follows in arrival order as the writes complete, so 'h' only ever covers a prefix
    // of what the client sent.
    const sm = this.sm;
    if (!sm) return;
    const before = this.counting;
    const durable: Promise<unknown> | undefined = writes && (writes.length === 1 ? writes[0] : Promise.all(writes));
    if (before === undefined && durable === undefined) return sm.handled();
    const ready = before === undefined ? durable! : durable === undefined ? before : before.then(() => durable);
    const counted: Promise<void> = ready.then(() => {
      // the same object whether this session still holds it or a resumed one took it over
      sm.handled();
      if (this.counting === counted) this.counting = undefined;
    });
    this.counting = counted;
  }

  /**
   * Resolves once every stanza taken in so far is processed and counted as handled: what a
   * resumption reports as 'h' (XEP-0198 §5) must not leave out a stanza that was routed.
   */
  async settled(): Promise<void> {
    await this.queue;
    await this.counting;
  }

  // ---- XEP-0198 stream management ----

  private onSmElement(el: Element): void {
    const sm = this.sm;
    switch (el.name) {
      case "enable": {
        // XEP-0198 §3: once per stream
        if (sm) return this.send(x("failed", { xmlns: NS_SM }, x("unexpected-request", { xmlns: NS.STANZAS })));
        const resume = el.attrs.resume === "true" || el.attrs.resume === "1";
        this.sm = new StreamManagement(resume);
        const max = String(this.core.config.streamManagement.resumeTimeoutSeconds);
        this.send(x("enabled", { xmlns: NS_SM, id: this.sm.id, resume: resume ? "true" : undefined, max: resume ? max : undefined }));
        return;
      }
      case "r": {
        if (!sm) return this.streamError(new StreamError("unsupported-stanza-type"));
        // XEP-0198 §4: the answer covers every stanza sent before the request, so it waits for
        // those still being made durable
        const answer = () => this.writeRaw(`<a xmlns="${NS_SM}" h="${sm.handledIn}"/>`);
        if (this.counting === undefined) answer();
        else void this.counting.then(() => { if (this.sm === sm) answer(); });
        return;
      }
      case "a": {
        if (!sm) return this.streamError(new StreamError("unsupported-stanza-type"));
        const h = parseH(el.attrs.h);
        if (h === undefined) return this.streamError(new StreamError("bad-format", "Invalid h"));
        if (!sm.acknowledge(h)) {
          // XEP-0198 §4: the client acknowledged more than we sent
          const err = new StreamError("undefined-condition", "handled-count-too-high");
          return this.streamError(err);
        }
        return;
      }
      case "resume":
        return void this.send(x("failed", { xmlns: NS_SM }, x("unexpected-request", { xmlns: NS.STANZAS })));
      default:
        return this.streamError(new StreamError("unsupported-stanza-type"));
    }
  }

  /** XEP-0198 §5: takes over a hibernating (or still connected) session of the same account. */
  private async resume(el: Element): Promise<void> {
    const fail = (condition: string) => this.send(x("failed", { xmlns: NS_SM }, x(condition, { xmlns: NS.STANZAS })));
    const previd = el.attrs.previd ?? "";
    const h = parseH(el.attrs.h);
    const old = this.core.resumableSession(previd, this.bareJid);
    if (!old || !old.sm) return fail("item-not-found");
    if (el.attrs.h !== undefined && h === undefined) return fail("bad-request");
    // 'h' below must count every stanza the old stream took in and routed (else the client would
    // send it again): wait until the last of them is counted
    await old.settled();
    if (this.core.resumableSession(previd, this.bareJid) !== old || !old.sm) return fail("item-not-found");
    const sm = old.sm;
    if (h !== undefined && !sm.acknowledge(h)) return this.streamError(new StreamError("undefined-condition", "handled-count-too-high"));
    // take over the old session's identity and state; the old object is retired silently
    this.jid = old.jid;
    this.bound = true;
    this.presence = old.presence;
    this.priority = old.priority;
    this.interested = old.interested;
    for (const [k, v] of old.data) this.data.set(k, v);
    this.sm = sm;
    old.retire();
    this.core.replaceSession(old, this);
    if (this.negotiationTimer) clearTimeout(this.negotiationTimer);
    this.writeRaw(`<resumed xmlns="${NS_SM}" previd="${escapeAttr(previd)}" h="${sm.handledIn}"/>`);
    // XEP-0198 §5: retransmit what the client has not handled, renumbered in the same sequence
    const pending = sm.drain();
    sm.sentOut = (sm.sentOut - pending.length + 2 ** 32) % 2 ** 32;
    for (const st of pending) this.send(st);
    this.log.info({ resent: pending.length }, "session resumed");
  }

  /** Ends this session object without closing it for the account (its state moved to a resumed session). */
  retire(): void {
    if (this.hibernateTimer) clearTimeout(this.hibernateTimer);
    if (this.negotiationTimer) clearTimeout(this.negotiationTimer);
    const wasOpen = this.state !== "hibernating" && this.state !== "closed";
    this.state = "closed";
    this.sm = undefined;
    // XEP-0198 §5: the old stream, if it is still open, is terminated
    if (wasOpen) this.transport.close();
  }
}

/**
 * Writes an element at stream level: stream-namespace elements carry the `stream:` prefix. When
 * `framed` (RFC 7395 §3.3.3: each WebSocket message is a document of its own), the namespaces the
 * element relies on are declared on it: xmlns:stream, and xmlns="jabber:client" for stanzas.
 */
export function serializeTopLevel(el: Element, framed = false): string {
  if (el.ns !== NS.STREAM) return el.toString(framed ? "" : NS.CLIENT);
  let s = "<stream:" + el.name;
  if (framed) s += ` xmlns:stream="${NS.STREAM}"`;
  for (const k in el.attrs) s += ` ${k}="${escapeAttr(el.attrs[k]!)}"`;
  if (el.children.length === 0) return s + "/>";
  s += ">";
  for (const c of el.children) s += typeof c === "string" ? escapeText(c) : c.toString(NS.STREAM);
  return s + "</stream:" + el.name + ">";
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
function decodeBase64(s: string): Buffer | undefined {
  const clean = s.replace(/\s+/g, "");
  if (clean.length % 4 !== 0 || !BASE64.test(clean)) return undefined;
  return Buffer.from(clean, "base64");
}

/** Maps a thrown value to a stanza error; unexpected errors become internal-server-error. */
export function toStanzaError(err: unknown, log: Logger): StanzaError {
  if (err instanceof StanzaError) return err;
  log.error({ err: errorSummary(err) }, "handler failed");
  return new StanzaError("internal-server-error");
}

/** An error's name, message and stack, never stanza content. */
export function errorSummary(err: unknown): { message: string; stack?: string } {
  if (err instanceof Error) return { message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) };
  return { message: String(err) };
}
