// The core: module host, session registry, routing (RFC 6120 §10), IQ dispatch (RFC 6120 §8.2.3),
// and the account lifecycle. It knows RFC 6120/6121 mechanics only; features live in modules.
import { randomBytes } from "node:crypto";
import { Element, x } from "../xml/element.js";
import { Jid, tryParseJid } from "../jid/jid.js";
import type { Config } from "../config/schema.js";
import type { ArchiveStore, KvStore, MapStore, StorageBackend, StoreDeclaration } from "../storage/types.js";
import { Events, type StanzaEvent } from "./events.js";
import { STANZA_CONDITIONS, StanzaError, StreamError, errorReply, type StanzaCondition } from "./errors.js";
import { NS } from "./namespaces.js";
import { Accounts, type AccountRecord } from "./accounts.js";
import { Throttle } from "./throttle.js";
import { Session, errorSummary, toStanzaError } from "./session.js";
import type { SaslContext } from "./sasl/types.js";
import { REPLIED, type ComponentHandler } from "./module.js";
import type { HttpRoute, HttpScope } from "./http.js";
import { Metrics, type Counter } from "./metrics.js";
import type { PortableHandler } from "./portable.js";
import { adoptPending } from "./lifecycle/portable.js";
import { OutputBatch } from "./output-batch.js";
import type {
  DiscoIdentity,
  FeatureProvider,
  IqHandler,
  IqTarget,
  ModuleContext,
  ModuleManifest,
  NonzaHandler,
  PreAuthIqHandler,
} from "./module.js";
import type { Logger } from "./log.js";

/** The accounts store, owned by the core itself. */
export const ACCOUNTS_STORE: StoreDeclaration = {
  shape: "kv",
  owner: "account",
  purpose: "Your user name, the salted keys derived from your password (never the password itself) and the date you registered",
  retention: { kind: "lifetime" },
  export: true,
};

/**
 * <user/> children of an imported XEP-0227 file that no loaded module claims (a vCard before the
 * vCard module exists, say): kept as XML so nothing is lost, handed to the module that claims
 * them once it is loaded, and included in the account's export meanwhile.
 */
export const PENDING_IMPORT_STORE: StoreDeclaration = {
  shape: "kv",
  owner: "account",
  purpose: "Data imported from your previous server that no feature of this server uses yet (such as settings of features this server does not have), kept so that it is not lost",
  retention: { kind: "lifetime" },
  export: true,
};

/** A module's registered export/import handler. */
export interface RegisteredPortable {
  module: string;
  handler: PortableHandler;
}


/** A registered store: its declaration and the module that declared it. */
export interface RegisteredStore {
  name: string;
  module: string;
  declaration: StoreDeclaration;
}

interface LoadedModule {
  manifest: ModuleManifest;
  stores: string[];
}

export interface CoreOptions {
  config: Config;
  log: Logger;
  storage: StorageBackend;
  /** Secret for fake SCRAM salts of unknown users; random per process unless given. */
  secret?: Buffer;
}

/** A pending IQ the server itself sent. */
interface PendingIq {
  resolve: (el: Element) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class Core {
  readonly config: Config;
  readonly log: Logger;
  readonly storage: StorageBackend;
  readonly events = new Events();
  /** Sessions' queued output, written together at the end of each turn (output-batch.ts). */
  readonly output = new OutputBatch();
  /** Counters and gauges for the metrics endpoint (src/core/metrics.ts); modules add their own. */
  readonly metrics = new Metrics();
  /** The core's own counters, incremented by sessions. Labels: fixed vocabularies only. */
  readonly counters: {
    stanzasIn: Counter;
    stanzasOut: Counter;
    stanzaErrors: Counter;
    streamErrors: Counter;
    authFailures: Counter;
  };
  readonly accounts: Accounts;
  readonly authThrottle: Throttle;
  readonly registrationThrottle: Throttle;
  readonly hosts: ReadonlySet<string>;
  readonly defaultHost: string;
  private readonly secret: Buffer;

  /** Bare JID → resource → session. */
  private readonly sessions = new Map<string, Map<string, Session>>();
  /** Every open session, bound or not. */
  private readonly allSessions = new Set<Session>();
  private readonly iqHandlers = new Map<string, IqHandler>();
  private readonly preAuthIqs = new Map<string, PreAuthIqHandler>();
  private readonly nonzas = new Map<string, NonzaHandler>();
  private readonly features: Record<"pre-auth" | "post-auth", FeatureProvider[]> = { "pre-auth": [], "post-auth": [] };
  private readonly serviceMap = new Map<string, unknown>();
  private readonly httpRouteList: HttpRoute[] = [];
  /** The port the HTTPS listener bound (set by the composition root), for URLs handed to clients. */
  httpsPort: number | undefined;
  /** Service domains (XEP-0045 MUC, XEP-0363 upload, …): domain → handler of every stanza to it. */
  private readonly componentMap = new Map<string, ComponentHandler>();
  private readonly stores = new Map<string, RegisteredStore>();
  private readonly portableList: RegisteredPortable[] = [];
  private readonly modules: LoadedModule[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pendingIqs = new Map<string, PendingIq>();
  private stopping = false;
  /** Session clean-ups in progress (rerouting, presence); shutdown waits for them. */
  private readonly cleanups = new Set<Promise<void>>();

  constructor(opts: CoreOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.storage = opts.storage;
    this.secret = opts.secret ?? randomBytes(32);
    this.hosts = new Set(this.config.hosts);
    this.defaultHost = this.config.hosts[0]!;
    const auth = this.config.auth;
    this.authThrottle = new Throttle({ ...auth.failedLogins, exemptLoopback: auth.exemptLoopback });
    const reg = this.config.registration;
    this.registrationThrottle = new Throttle({ ...reg.perAddress, exemptLoopback: reg.exemptLoopback });
    this.registerStore("accounts", "core", ACCOUNTS_STORE);
    this.registerStore("portable_pending", "core", PENDING_IMPORT_STORE);
    this.accounts = new Accounts(this.storage.kv<AccountRecord>("accounts"), {
      iterations: auth.scramIterations,
      purge: (jid) => this.deleteAccountData(jid),
    });
    this.installCoreHandlers();
    this.counters = {
      stanzasIn: this.metrics.counter("warbler_stanzas_in", "Stanzas received from clients, by kind.", ["kind"]),
      stanzasOut: this.metrics.counter("warbler_stanzas_out", "Stanzas sent to clients, by kind.", ["kind"]),
      stanzaErrors: this.metrics.counter("warbler_stanza_errors", "Error stanzas sent to clients, by condition (RFC 6120 §8.3.3).", ["condition"]),
      streamErrors: this.metrics.counter("warbler_stream_errors", "Streams closed with a stream error, by condition (RFC 6120 §4.9.3).", ["condition"]),
      authFailures: this.metrics.counter("warbler_auth_failures", "Failed SASL authentications, by condition (RFC 6120 §6.5).", ["condition"]),
    };
    this.metrics.gauge("warbler_sessions", "Open client connections, by transport and whether a resource is bound.", () => {
      const counts = new Map<string, number>();
      for (const s of this.allSessions) {
        const key = `${s.transport.kind}|${s.bound}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const samples = [];
      for (const transport of ["tcp", "websocket"]) {
        for (const bound of ["true", "false"]) samples.push({ labels: { transport, bound }, value: counts.get(`${transport}|${bound}`) ?? 0 });
      }
      return samples;
    });
  }

  isLocalHost(domain: string): boolean {
    return this.hosts.has(domain);
  }

  /** Bare JIDs of every account of every host (for clean-ups after an account is deleted). */
  async localAccounts(): Promise<string[]> {
    const all: string[] = [];
    for (const host of this.hosts) all.push(...(await this.accounts.list(host)));
    return all;
  }

  /** Whether a module serves this domain (a MUC or upload service; see registerComponent). */
  isComponent(domain: string): boolean {
    return this.componentMap.has(domain);
  }

  /**
   * Makes a module the handler of every stanza addressed to `domain` or to any JID at it (the
   * way an XEP-0114 component is attached, but in-process). The domain must not be an account host.
   */
  registerComponent(domain: string, handler: ComponentHandler): void {
    if (this.hosts.has(domain)) throw new Error(`component ${domain} is an account host`);
    if (this.componentMap.has(domain)) throw new Error(`component ${domain} registered twice`);
    this.componentMap.set(domain, handler);
  }

  /** Adds an HTTP route (see src/core/http.ts); a path served twice is a programming error. */
  registerHttpRoute(route: HttpRoute): void {
    if (this.httpRouteList.some((r) => r.path === route.path && (r.scope ?? "public") === (route.scope ?? "public"))) throw new Error(`HTTP path ${route.path} served twice`);
    this.httpRouteList.push(route);
  }

  /** The route serving a path on listeners of `scope`: an exact match first, else the longest prefix route. */
  httpRouteFor(path: string, scope: HttpScope = "public"): HttpRoute | undefined {
    let best: HttpRoute | undefined;
    for (const r of this.httpRouteList) {
      if ((r.scope ?? "public") !== scope) continue;
      if (r.path === path) return r;
      if (r.path.endsWith("/") && path.startsWith(r.path) && (!best || r.path.length > best.path.length)) best = r;
    }
    return best;
  }

  /**
   * The base URL (no trailing slash) clients reach the HTTP service at for a host:
   * `http.publicUrl` when configured, else https://host:port; undefined when HTTP is off.
   */
  httpBaseUrl(host: string): string | undefined {
    const pub = this.config.http.publicUrl;
    if (pub) return pub.replace(/\/+$/, "");
    if (!this.config.http.enabled || this.httpsPort === undefined) return undefined;
    return `https://${host}${this.httpsPort === 443 ? "" : `:${this.httpsPort}`}`;
  }

  // ---- modules ----

  /** Loads modules in order (those named in `after` first); disabled ones are skipped. */
  async loadModules(manifests: ModuleManifest<any>[]): Promise<void> {
    const disabled = new Set(this.config.modules.disabled);
    const byName = new Map(manifests.map((m) => [m.name, m]));
    const done = new Set<string>();
    const visit = async (m: ModuleManifest<any>, path: string[]): Promise<void> => {
      if (done.has(m.name) || disabled.has(m.name)) return;
      if (path.includes(m.name)) throw new Error(`module dependency cycle: ${[...path, m.name].join(" -> ")}`);
      for (const dep of m.after ?? []) {
        const d = byName.get(dep);
        if (d) await visit(d, [...path, m.name]);
      }
      done.add(m.name);
      await this.loadModule(m);
    };
    for (const m of manifests) await visit(m, []);
  }

  private async loadModule(manifest: ModuleManifest<any>): Promise<void> {
    const decls: Record<string, StoreDeclaration> =
      typeof manifest.stores === "function" ? manifest.stores(this.config) : (manifest.stores ?? {});
    const handles: Record<string, KvStore | MapStore | ArchiveStore> = {};
    for (const [name, decl] of Object.entries(decls)) {
      this.registerStore(name, manifest.name, decl);
      handles[name] =
        decl.shape === "kv" ? this.storage.kv(name) : decl.shape === "map" ? this.storage.map(name) : this.storage.archive(name);
    }
    const log = this.log.child({ module: manifest.name });
    const ctx: ModuleContext<any> = {
      name: manifest.name,
      config: this.config,
      log,
      stores: handles,
      accounts: this.accounts,
      core: this,
      on: (event, handler, priority) => {
        this.events.on(event, handler, priority);
      },
      iq: (target, type, ns, name, handler) => this.registerIq(target, type, ns, name, handler),
      preAuthIq: (ns, handler) => {
        this.preAuthIqs.set(ns, handler);
      },
      nonza: (ns, name, handler) => {
        this.nonzas.set(ns + "|" + name, handler);
      },
      streamFeature: (stage, provider) => {
        this.features[stage].push(provider);
      },
      provide: (name, api) => {
        if (this.serviceMap.has(name)) throw new Error(`service ${name} provided twice`);
        this.serviceMap.set(name, api);
      },
      use: <T,>(name: string) => this.service<T>(name),
      component: (domain, handler) => this.registerComponent(domain, handler),
      http: (route) => this.registerHttpRoute(route),
      portable: (handler) => this.registerPortable(manifest.name, handler),
      every: (ms, fn) => {
        const t = setInterval(() => {
          Promise.resolve()
            .then(fn)
            .catch((err: unknown) => log.error({ err: errorSummary(err) }, "periodic task failed"));
        }, ms);
        t.unref();
        this.timers.push(t);
      },
    };
    await manifest.setup(ctx);
    this.modules.push({ manifest, stores: Object.keys(decls) });
    this.log.debug({ module: manifest.name }, "module loaded");
  }

  /**
   * Registers a store with its lifecycle. A store without an owner, purpose or retention is refused:
   * the privacy policy is generated from these declarations.
   */
  private registerStore(name: string, module: string, decl: StoreDeclaration): void {
    if (this.stores.has(name)) throw new Error(`store ${name} declared twice (${module}, ${this.stores.get(name)!.module})`);
    if (!decl.owner || !decl.purpose || !decl.retention) throw new Error(`store ${name} of ${module} lacks owner, purpose or retention`);
    if (decl.retention.kind === "forever" && !decl.retention.justification) throw new Error(`store ${name} keeps data forever without a justification`);
    this.stores.set(name, { name, module, declaration: decl });
  }

  /** Registers a module's export/import handler; an element claimed twice is a programming error. */
  private registerPortable(module: string, handler: PortableHandler): void {
    for (const e of handler.elements) {
      const other = this.portableFor(e.name, e.ns);
      if (other) throw new Error(`XEP-0227 element {${e.ns}}${e.name} claimed by ${other.module} and ${module}`);
    }
    this.portableList.push({ module, handler });
  }

  /** Export/import handlers in module load order (see src/core/portable.ts). */
  portables(): readonly RegisteredPortable[] {
    return this.portableList;
  }

  /** The handler that claims a <user/> child, if a loaded module does. */
  portableFor(name: string, ns: string): RegisteredPortable | undefined {
    return this.portableList.find((p) => p.handler.elements.some((e) => e.name === name && e.ns === ns));
  }

  /** A service a module provided (see ModuleContext.provide), undefined if that module is off. */
  service<T>(name: string): T | undefined {
    return this.serviceMap.get(name) as T | undefined;
  }

  /** Every store with its lifecycle (for the privacy page, export and deletion). */
  storeRegistry(): RegisteredStore[] {
    return [...this.stores.values()];
  }

  loadedModules(): ModuleManifest[] {
    return this.modules.map((m) => m.manifest);
  }

  /** Disco features, identities of the domain or of accounts, aggregated from module manifests. */
  discoInfo(target: IqTarget): { identities: DiscoIdentity[]; features: string[] } {
    const features = new Set<string>([NS.DISCO_INFO]);
    const identities: DiscoIdentity[] = [];
    if (target === "host") identities.push({ category: "server", type: "im", name: "Warbler" });
    else identities.push({ category: "account", type: "registered" });
    for (const { manifest } of this.modules) {
      const d = manifest.disco;
      if (!d) continue;
      for (const f of (target === "host" ? d.features : d.accountFeatures) ?? []) features.add(f);
      identities.push(...((target === "host" ? d.identities : d.accountIdentities) ?? []));
    }
    return { identities, features: [...features].sort() };
  }

  streamFeatures(stage: "pre-auth" | "post-auth", session: Session): Element[] {
    const out: Element[] = [];
    for (const p of this.features[stage]) {
      const el = p(session);
      if (el) out.push(el);
    }
    return out;
  }

  nonzaHandler(el: Element): NonzaHandler | undefined {
    return this.nonzas.get(el.ns + "|" + el.name);
  }

  private registerIq(target: IqTarget, type: "get" | "set", ns: string, name: string, handler: IqHandler): void {
    const key = `${target}|${type}|${ns}|${name}`;
    if (this.iqHandlers.has(key)) throw new Error(`IQ handler ${key} registered twice`);
    this.iqHandlers.set(key, handler);
  }

  // ---- sessions ----

  /** Creates a session for a new transport connection. */
  openSession(transport: ConstructorParameters<typeof Session>[1]): Session {
    const s = new Session(this, transport);
    this.allSessions.add(s);
    return s;
  }

  /** Sessions of an account (bound ones), possibly none. */
  sessionsOf(bare: Jid | string): Session[] {
    const m = this.sessions.get(typeof bare === "string" ? bare : bare.bareString);
    return m ? [...m.values()] : [];
  }

  /** Whether the account has a session now (it exists, then: a check that needs no storage read). */
  hasSessions(bare: Jid): boolean {
    return this.sessions.has(bare.bareString);
  }

  sessionFor(full: Jid): Session | undefined {
    return this.sessions.get(full.bareString)?.get(full.resource);
  }

  /**
   * Whether a local account exists. An account with sessions does, so the hot paths (messages,
   * presence, archiving) ask storage only for offline accounts.
   */
  async accountExists(bare: Jid): Promise<boolean> {
    return this.sessions.has(bare.bareString) || (await this.accounts.exists(bare));
  }

  /** Number of accounts with a bound session (for metrics). */
  get onlineAccountCount(): number {
    return this.sessions.size;
  }

  /** Number of open connections (for metrics and shutdown). */
  get sessionCount(): number {
    return this.allSessions.size;
  }

  /**
   * Binds a resource (RFC 6120 §7.6): the requested one, or a generated one. A conflicting older
   * session is replaced (RFC 6120 §7.7.2.2, the "override" policy), and the number of sessions per
   * account is limited (§7.6.2.1 resource-constraint).
   */
  async bindSession(session: Session, requested: string | undefined): Promise<Jid> {
    const bare = session.bareJid;
    let m = this.sessions.get(bare.bareString);
    if (!m) {
      m = new Map();
      this.sessions.set(bare.bareString, m);
    }
    let resource = requested;
    if (resource === undefined) {
      do resource = randomBytes(6).toString("base64url");
      while (m.has(resource));
    }
    const old = m.get(resource);
    if (old && old !== session) {
      m.delete(resource);
      old.streamError(new StreamError("conflict", "Replaced by a new connection")); // RFC 6120 §4.9.3.3
    } else if (m.size >= this.config.limits.maxSessionsPerAccount) {
      throw new StanzaError("resource-constraint", "Too many sessions"); // RFC 6120 §7.6.2.1
    }
    const full = new Jid(bare.local, bare.domain, resource);
    m.set(resource, session);
    session.log.info({ resource: full.resource }, "bound");
    return full;
  }

  /**
   * Called by a session once it is closed, with the stanzas its client never acknowledged
   * (XEP-0198), which are rerouted so that none is lost.
   */
  sessionClosed(session: Session, reason: string, unacked: Element[] = []): void {
    if (!this.allSessions.delete(session)) return;
    if (session.bound && session.jid) {
      const m = this.sessions.get(session.jid.bareString);
      if (m && m.get(session.jid.resource) === session) {
        m.delete(session.jid.resource);
        if (m.size === 0) this.sessions.delete(session.jid.bareString);
      }
      const cleanup = (async () => {
        if (unacked.length > 0) await this.rerouteUnacked(session, unacked);
        await this.events.emit("session/closed", { session, error: reason });
      })().catch((err: unknown) => {
        this.log.error({ err: errorSummary(err) }, "session cleanup failed");
      });
      this.cleanups.add(cleanup);
      void cleanup.finally(() => this.cleanups.delete(cleanup));
    }
    session.log.debug({ reason }, "session closed");
  }

  /**
   * XEP-0198 §4: unacknowledged stanzas are treated like stanzas to an unavailable resource.
   * Messages go to the account's other resources or offline storage, or bounce with an error;
   * IQ requests bounce; presence is state, resent on the next login, and is dropped.
   */
  private async rerouteUnacked(session: Session, stanzas: Element[]): Promise<void> {
    const full = session.jid!;
    const bare = full.bare();
    let rerouted = 0;
    for (const st of stanzas) {
      const from = tryParseJid(st.attrs.from ?? "") ?? new Jid("", full.domain);
      if (st.name === "iq") {
        const type = st.attrs.type;
        if (type === "get" || type === "set") this.bounce({ stanza: st, origin: undefined, from, to: full }, new StanzaError("service-unavailable"));
        continue;
      }
      if (st.name !== "message") continue;
      const type = st.attrs.type ?? "normal";
      // Copies made for this session (carbons, archive results) come from the account itself: not messages to keep.
      if (type === "error" || type === "headline" || type === "groupchat" || from.bare().equals(bare)) continue;
      const to = tryParseJid(st.attrs.to ?? "") ?? full;
      const others = this.sessionsOf(bare).filter((s) => s !== session && s.available && s.priority >= 0);
      if (others.length > 0) {
        // sent to the bare JID: the other resources had it already (RFC 6121 §8.5.2.1.1)
        if (to.isBare) continue;
        for (const s of others) this.deliver(s, st);
        rerouted++;
        continue;
      }
      const ev: StanzaEvent = { stanza: st, origin: undefined, from, to: bare };
      if (await this.events.emit("message/offline", ev)) rerouted++;
      else this.bounce(ev, new StanzaError("recipient-unavailable"));
    }
    session.log.info({ unacked: stanzas.length, rerouted }, "unacknowledged stanzas handled");
  }

  /** The session of `account` with stream management id `smId` that may be resumed (XEP-0198 §5). */
  resumableSession(smId: string, account: Jid): Session | undefined {
    if (smId === "") return undefined;
    return this.sessionsOf(account).find((s) => s.sm?.resumable === true && s.sm.id === smId);
  }

  /** Puts a resumed session in place of the one it took over (same full JID). */
  replaceSession(old: Session, resumed: Session): void {
    this.allSessions.delete(old);
    const full = resumed.fullJid;
    let m = this.sessions.get(full.bareString);
    if (!m) {
      m = new Map();
      this.sessions.set(full.bareString, m);
    }
    m.set(full.resource, resumed);
  }

  saslContext(session: Session): SaslContext & { tlsActive: boolean } {
    const cb = session.transport.channelBinding();
    return {
      getCredentials: (username) => this.accounts.getCredentials(new Jid(username, session.host, "")),
      normalizeUsername: (u) => tryParseJid(u + "@" + session.host)?.local || undefined,
      ...(cb ? { channelBinding: cb } : {}),
      plusOffered: (cb?.types.length ?? 0) > 0,
      fakeSaltSecret: this.secret,
      iterations: this.config.auth.scramIterations,
      completeCredentials: (username, password) => this.accounts.completeCredentials(new Jid(username, session.host, ""), password),
      domain: session.host,
      tlsActive: session.transport.secure,
    };
  }

  /** Passes a pre-authentication IQ to its handler; false when none takes it. */
  async handlePreAuthIq(session: Session, stanza: Element): Promise<boolean> {
    const payload = stanza.elements()[0];
    const handler = payload ? this.preAuthIqs.get(payload.ns) : undefined;
    if (!handler) return false;
    await handler(session, stanza);
    return true;
  }

  // ---- routing (RFC 6120 §10) ----

  /**
   * Routes a stanza from a bound client session; `from` is already stamped. Resolves once the
   * stanza is routed, with the writes it started and did not wait for (archive rows): the session
   * counts it as handled (XEP-0198 §4) once they are durable.
   */
  async routeFromClient(session: Session, stanza: Element): Promise<Promise<void>[] | undefined> {
    const from = session.fullJid;
    const kind = stanza.name as "message" | "presence" | "iq";
    if (kind === "iq") {
      // RFC 6120 §8.2.3: type and id are required; get/set carry exactly one payload
      const type = stanza.attrs.type;
      if (stanza.attrs.id === undefined || (type !== "get" && type !== "set" && type !== "result" && type !== "error")) {
        if (type !== "result" && type !== "error") session.send(errorReply(stanza, new StanzaError("bad-request")));
        return;
      }
      if ((type === "get" || type === "set") && stanza.elements().length !== 1) {
        session.send(errorReply(stanza, new StanzaError("bad-request")));
        return;
      }
    }
    const toAttr = stanza.attrs.to;
    let to: Jid;
    if (toAttr === undefined) {
      if (kind === "presence") {
        // RFC 6121 §4.2 / §4.4: presence without 'to' is a broadcast
        await this.dispatch("presence/broadcast", { stanza, origin: session, from, to: from.bare() });
        return;
      }
      // RFC 6120 §10.3.3 / §8.1.1.1: no 'to' means the account itself
      to = from.bare();
    } else {
      const parsed = tryParseJid(toAttr);
      if (!parsed) {
        // RFC 6120 §8.3.3.8 jid-malformed
        if (stanza.attrs.type !== "error") session.send(errorReply(stanza, new StanzaError("jid-malformed")));
        return;
      }
      to = parsed;
      stanza.attrs.to = to.toString();
    }
    const ev: StanzaEvent = { stanza, origin: session, from, to };
    if (!(await this.events.emit("stanza/outgoing", ev))) await this.routeEvent(ev);
    return ev.writes;
  }

  /** Routes a stanza the server generated (from/to set); used by modules. */
  async route(stanza: Element): Promise<void> {
    const from = tryParseJid(stanza.attrs.from ?? "");
    const to = tryParseJid(stanza.attrs.to ?? "");
    if (!from || !to) throw new Error("route: stanza needs valid from and to");
    if (stanza.ns === "") stanza.ns = NS.CLIENT;
    await this.routeEvent({ stanza, origin: undefined, from, to });
  }

  private async routeEvent(ev: StanzaEvent): Promise<void> {
    const { stanza, to } = ev;
    const kind = stanza.name as "message" | "presence" | "iq";
    const component = this.componentMap.get(to.domain);
    if (component) {
      // RFC 6120 §10.5: a local service; it answers (or bounces) what it receives
      try {
        await component(ev);
      } catch (err) {
        this.bounce(ev, toStanzaError(err, this.log));
      }
      return;
    }
    if (!this.isLocalHost(to.domain)) {
      // RFC 6120 §10.4: no server-to-server connections (yet): remote-server-not-found
      this.bounce(ev, new StanzaError("remote-server-not-found"));
      return;
    }
    const form = to.local === "" ? (to.resource === "" ? "host" : "full") : to.resource === "" ? "bare" : "full";
    if (form === "full" && to.local === "") {
      // a domain with a resource: nothing is there (RFC 6120 §10.5.1)
      this.bounce(ev, new StanzaError("service-unavailable"));
      return;
    }
    await this.dispatch(`${kind}/${form}`, ev);
  }

  private async dispatch(name: "message/bare" | "message/full" | "message/host" | "presence/bare" | "presence/full" | "presence/host" | "iq/bare" | "iq/full" | "iq/host" | "presence/broadcast", ev: StanzaEvent): Promise<void> {
    try {
      const handled = await this.events.emit(name, ev);
      if (!handled && ev.stanza.name !== "presence") {
        // RFC 6120 §8.4 / RFC 6121 §8.5: nobody handles it
        this.bounce(ev, new StanzaError("service-unavailable"));
      }
    } catch (err) {
      this.bounce(ev, toStanzaError(err, this.log));
    }
  }

  /**
   * Answers a stanza with an error (RFC 6120 §8.3.1), never answering an error with an error and
   * never bouncing IQ results.
   */
  bounce(ev: StanzaEvent, err: StanzaError): void {
    const { stanza } = ev;
    const type = stanza.attrs.type;
    if (type === "error" || (stanza.name === "iq" && type === "result")) return;
    if (stanza.name === "presence") return; // RFC 6121 §4.3/§4.5: presence errors are not bounced to clients
    const reply = errorReply(stanza, err);
    reply.attrs.from = ev.to.toString();
    reply.attrs.to = ev.from.toString();
    this.deliverTo(ev.from, reply);
  }

  /** Delivers to a full JID's session (if it exists); returns whether it was written. */
  deliverTo(to: Jid, stanza: Element): boolean {
    const component = this.componentMap.get(to.domain);
    if (component) {
      // Replies and errors for a service (a room, the upload service) go to its handler
      const from = tryParseJid(stanza.attrs.from ?? "") ?? new Jid("", this.defaultHost, "");
      Promise.resolve()
        .then(() => component({ stanza, origin: undefined, from, to }))
        .catch((err: unknown) => this.log.debug({ err: errorSummary(err) }, "component refused a reply"));
      return true;
    }
    if (!this.isLocalHost(to.domain)) return false;
    if (to.resource === "") {
      let any = false;
      for (const s of this.sessionsOf(to)) any = this.deliver(s, stanza) || any;
      return any;
    }
    const s = this.sessionFor(to);
    return s ? this.deliver(s, stanza) : false;
  }

  /** Writes a stanza to a session, unless a "stanza/deliver" hook holds it back (CSI, blocking, SM). */
  deliver(session: Session, stanza: Element): boolean {
    if (this.events.emitSync("stanza/deliver", { session, stanza })) return false;
    session.send(stanza);
    return true;
  }

  /** Sends an IQ from the server and resolves with the result (rejects on error or timeout). */
  sendIq(stanza: Element, timeoutMs = 30_000): Promise<Element> {
    const id = stanza.attrs.id ?? randomBytes(8).toString("base64url");
    stanza.attrs.id = id;
    const key = `${stanza.attrs.to ?? ""}|${id}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingIqs.delete(key);
        reject(new StanzaError("remote-server-timeout"));
      }, timeoutMs);
      timer.unref();
      this.pendingIqs.set(key, { resolve, reject, timer });
      this.route(stanza).catch(reject);
    });
  }

  // ---- IQ dispatch (RFC 6120 §8.2.3, §10.3.3) ----

  private installCoreHandlers(): void {
    const iqToServer = async (ev: StanzaEvent, target: IqTarget): Promise<boolean> => {
      const { stanza } = ev;
      const type = stanza.attrs.type;
      if (type === "result" || type === "error") {
        const key = `${ev.from.toString()}|${stanza.attrs.id ?? ""}`;
        const p = this.pendingIqs.get(key);
        if (p) {
          this.pendingIqs.delete(key);
          clearTimeout(p.timer);
          if (type === "result") p.resolve(stanza);
          else p.reject(new StanzaError(parseErrorCondition(stanza)));
        }
        return true; // RFC 6120 §8.2.3: results are never answered
      }
      const payload = stanza.elements()[0];
      if (!payload || (type !== "get" && type !== "set")) throw new StanzaError("bad-request");
      if (target === "account" && !(await this.accountExists(ev.to))) {
        // RFC 6121 §8.5.1: no such account
        throw new StanzaError("service-unavailable");
      }
      const handler = this.iqHandlers.get(`${target}|${type}|${payload.ns}|${payload.name}`);
      if (!handler) throw new StanzaError("service-unavailable"); // RFC 6120 §8.4
      const result = await handler({ stanza, payload, from: ev.from, to: ev.to, origin: ev.origin });
      if (result === REPLIED) return true;
      const reply = x("iq", { xmlns: NS.CLIENT, type: "result", id: stanza.attrs.id, from: ev.to.toString(), to: ev.from.toString() }, result ?? null);
      // A reply to one's own account carries no 'from' clients might stumble on (RFC 6120 §8.1.2.1)
      if (target === "account" && ev.origin && ev.to.equals(ev.from.bare())) delete reply.attrs.from;
      this.deliverTo(ev.from, reply);
      return true;
    };
    const wrap = (target: IqTarget) => async (ev: StanzaEvent) => {
      try {
        return await iqToServer(ev, target);
      } catch (err) {
        const e = toStanzaError(err, this.log);
        const reply = errorReply(ev.stanza, e);
        reply.attrs.from = ev.to.toString();
        reply.attrs.to = ev.from.toString();
        if (target === "account" && ev.origin && ev.to.equals(ev.from.bare())) delete reply.attrs.from;
        this.deliverTo(ev.from, reply);
        return true;
      }
    };
    this.events.on("iq/host", wrap("host"), -100);
    this.events.on("iq/bare", wrap("account"), -100);
    // RFC 6120 §10.5.3.2 / RFC 6121 §8.5.3.2.1: an IQ to a full JID goes to that resource only
    this.events.on(
      "iq/full",
      async (ev) => {
        const s = this.sessionFor(ev.to);
        if (s) {
          this.deliver(s, ev.stanza);
          return true;
        }
        const type = ev.stanza.attrs.type;
        if (type === "get" || type === "set") this.bounce(ev, new StanzaError("service-unavailable"));
        return true;
      },
      -100,
    );
  }

  // ---- account lifecycle ----

  /**
   * Deletes every row every account-owned store keeps for the account, after modules have had
   * their "account/deleting" turn (closing sessions, telling contacts). Returns counts per store.
   */
  private async deleteAccountData(jid: Jid): Promise<Record<string, number>> {
    await this.events.emit("account/deleting", { jid });
    // The account's sessions end: RFC 6120 §4.9.3.12 not-authorized (XEP-0077 §3.2)
    for (const s of this.sessionsOf(jid)) s.streamError(new StreamError("not-authorized", "Account removed"));
    const owned = this.storeRegistry()
      .filter((s) => s.declaration.owner === "account")
      .map((s) => s.name);
    const removed = await this.storage.purgeOwner(jid.bareString, owned);
    this.log.info({ user: jid.bareString, stores: Object.keys(removed).length }, "account deleted");
    await this.events.emit("account/deleted", { jid, removed });
    return removed;
  }

  // ---- retention ----

  /**
   * Deletes what every store with a duration retention holds beyond it (the privacy policy's
   * "how long"). Returns rows removed per store. Runs at start and then every `retention.sweepMinutes`.
   */
  async retentionSweep(now = Date.now()): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    for (const s of this.stores.values()) {
      const r = s.declaration.retention;
      if (r.kind !== "duration") continue;
      removed[s.name] = await this.storage.expire(s.name, now - r.ms);
    }
    // One scheduler for every retention: modules keeping data outside the stores (uploaded files)
    // follow the same clock
    await this.events.emit("retention/sweep", { now });
    const total = Object.values(removed).reduce((a, b) => a + b, 0);
    if (total > 0) this.log.info({ removed }, "retention sweep");
    return removed;
  }

  // ---- start / stop ----

  async started(): Promise<void> {
    await this.accounts.loadKeyKinds(this.hosts);
    await this.retentionSweep();
    // Imported data that waited for a module now loaded (src/core/portable.ts)
    const adopted = await adoptPending(this).catch((err: unknown) => {
      this.log.error({ err: errorSummary(err) }, "adopting pending imports failed");
      return 0;
    });
    if (adopted > 0) this.log.info({ adopted }, "pending imported data handed to modules");
    const t = setInterval(() => {
      this.retentionSweep().catch((err: unknown) => this.log.error({ err: errorSummary(err) }, "retention sweep failed"));
    }, this.config.retention.sweepMinutes * 60_000);
    t.unref();
    this.timers.push(t);
    await this.events.emit("server/started", {});
  }

  /** Graceful shutdown: every stream gets <system-shutdown/> (RFC 6120 §4.9.3.19). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.events.emit("server/stopping", {});
    for (const t of this.timers) clearInterval(t);
    for (const p of this.pendingIqs.values()) {
      clearTimeout(p.timer);
      p.reject(new Error("server stopping"));
    }
    this.pendingIqs.clear();
    for (const s of [...this.allSessions]) s.streamError(new StreamError("system-shutdown"));
    // unacknowledged messages are stored before storage closes
    while (this.cleanups.size > 0) await Promise.all([...this.cleanups]);
  }
}

/** The defined condition of an error stanza (RFC 6120 §8.3.2), undefined-condition if none is known. */
export function parseErrorCondition(stanza: Element): StanzaCondition {
  const err = stanza.getChild("error");
  for (const c of err?.elements() ?? []) {
    if (c.ns === NS.STANZAS && Object.hasOwn(STANZA_CONDITIONS, c.name)) return c.name as StanzaCondition;
  }
  return "undefined-condition";
}
