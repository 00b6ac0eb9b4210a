// The module manifest: each feature declares its specs, disco features, stores (with their data
// lifecycle) and a setup function; everything it registers through its context is recorded so the
// core can list and tear it down. See docs/architecture.md.
import type { Element } from "../xml/element.js";
import type { Jid } from "../jid/jid.js";
import type { Config } from "../config/schema.js";
import type { ArchiveStore, KvStore, MapStore, StoreDeclaration } from "../storage/types.js";
import type { EventName, Handler, StanzaEvent } from "./events.js";
import type { Session } from "./session.js";
import type { Logger } from "./log.js";
import type { Accounts } from "./accounts.js";
import type { Core } from "./core.js";
import type { HttpRoute } from "./http.js";
import type { PortableHandler } from "./portable.js";

/** An IQ request routed to a handler (RFC 6120 §8.2.3). */
export interface IqRequest {
  stanza: Element;
  /** The single child element of the request. */
  payload: Element;
  from: Jid;
  /** The addressed entity: the domain (target "host") or an account's bare JID (target "account"). */
  to: Jid;
  /** The sending session, when the request came from a local client. */
  origin: Session | undefined;
}

/** Returned by an IQ handler that has already answered the request itself. */
export const REPLIED: unique symbol = Symbol("replied");

/** Returns the result payload (or nothing for an empty result), or throws a StanzaError. */
export type IqHandler = (
  req: IqRequest,
) => Promise<Element | typeof REPLIED | void | undefined> | Element | typeof REPLIED | void | undefined;

/** Which address an IQ handler serves: the server's domain, or an account's bare JID (RFC 6120 §10.3.3). */
export type IqTarget = "host" | "account";

export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
}

/**
 * Receives every stanza addressed to a service domain (`conference.example.com`, a room or an
 * occupant there). Throwing a StanzaError bounces the stanza with that condition.
 */
export type ComponentHandler = (ev: StanzaEvent) => Promise<void> | void;

/** A handler for an IQ sent before authentication (XEP-0077 registration). */
export type PreAuthIqHandler = (session: Session, stanza: Element) => Promise<void>;

/** Handles a top-level element that is not a stanza (XEP-0198 <r/>, XEP-0352 <active/>). */
export type NonzaHandler = (session: Session, el: Element) => Promise<void> | void;

/** Adds stream features for a session at a stage of negotiation. */
export type FeatureProvider = (session: Session) => Element | undefined;

type StoreHandle<D extends StoreDeclaration> = D["shape"] extends "kv"
  ? KvStore
  : D["shape"] extends "map"
    ? MapStore
    : ArchiveStore;

export type StoreHandles<S extends Record<string, StoreDeclaration>> = { [K in keyof S]: StoreHandle<S[K]> };

/** What a module's setup receives: the only way a module touches the server. */
export interface ModuleContext<S extends Record<string, StoreDeclaration> = Record<string, StoreDeclaration>> {
  readonly name: string;
  readonly config: Config;
  readonly log: Logger;
  /** The module's own stores, as declared. */
  readonly stores: StoreHandles<S>;
  readonly accounts: Accounts;
  /** The core's routing and session services. */
  readonly core: Core;
  on<E extends EventName>(event: E, handler: Handler<E>, priority?: number): void;
  /** Handles IQs of `type` whose payload is `<name xmlns=ns>` addressed to `target`. */
  iq(target: IqTarget, type: "get" | "set", ns: string, name: string, handler: IqHandler): void;
  preAuthIq(ns: string, handler: PreAuthIqHandler): void;
  nonza(ns: string, name: string, handler: NonzaHandler): void;
  streamFeature(stage: "pre-auth" | "post-auth", provider: FeatureProvider): void;
  /** Offers a service to other modules by name (modules never import each other). */
  provide<T>(name: string, api: T): void;
  /** A service another module provided, or undefined when that module is disabled. */
  use<T>(name: string): T | undefined;
  /** Serves a domain of its own (a MUC or upload service): every stanza to it goes to `handler`. */
  component(domain: string, handler: ComponentHandler): void;
  /** Serves HTTP requests on a path (exact, or a prefix ending with "/"); see src/core/http.ts. */
  http(route: HttpRoute): void;
  /**
   * Contributes the module's part of an account's data export and import (XEP-0227 <user/>
   * children; see src/core/portable.ts). Every module with an exported store registers one.
   */
  portable(handler: PortableHandler): void;
  /** Runs fn every `ms` while the server runs (retention sweeps and the like). */
  every(ms: number, fn: () => Promise<void> | void): void;
}

/** A feature module. */
export interface ModuleManifest<S extends Record<string, StoreDeclaration> = Record<string, StoreDeclaration>> {
  name: string;
  /** RFCs and XEPs the module implements, e.g. ["XEP-0199"]. */
  specs: string[];
  /** What the module contributes to service discovery (XEP-0030). */
  disco?: {
    /** Features of the server's domain. */
    features?: string[];
    identities?: DiscoIdentity[];
    /** Features of every account's bare JID (e.g. PEP). */
    accountFeatures?: string[];
    /** Identities of every account's bare JID besides account/registered (e.g. pubsub/pep, XEP-0163 §6.1). */
    accountIdentities?: DiscoIdentity[];
  };
  /** Stores the module owns, each with its lifecycle; computed from the config when retention is configurable. */
  stores?: S | ((config: Config) => S);
  /**
   * Directories under the data directory where the module keeps files (plain names, e.g.
   * "uploads"): backups include them and restores put them back (src/core/lifecycle/backup.ts).
   */
  fileTrees?: string[];
  /** Modules whose services this one needs (loaded first). */
  after?: string[];
  setup(ctx: ModuleContext<S>): void | Promise<void>;
}

/** Declares a module (identity function that keeps the store types). */
export function defineModule<S extends Record<string, StoreDeclaration>>(m: ModuleManifest<S>): ModuleManifest<S> {
  return m;
}

/** Store declaration helpers. */
export function kv(d: Omit<StoreDeclaration, "shape">): StoreDeclaration & { shape: "kv" } {
  return { ...d, shape: "kv" };
}
export function map(d: Omit<StoreDeclaration, "shape">): StoreDeclaration & { shape: "map" } {
  return { ...d, shape: "map" };
}
export function archive(d: Omit<StoreDeclaration, "shape">): StoreDeclaration & { shape: "archive" } {
  return { ...d, shape: "archive" };
}
