// The "pep" service other modules use (vCard/avatar conversion, bookmarks): publish, read and
// retract items of an account's personal eventing nodes (XEP-0163), and hear about changes.
import type { Element } from "../../xml/element.js";
import type { Jid } from "../../jid/jid.js";
import type { NodeConfig } from "./config.js";

/** One stored item. */
export interface PepItem {
  id: string;
  payload: Element;
  /** When it was published, ms since the epoch. */
  when: number;
}

/** A publish, after it is stored and notified. */
export interface PublishEvent {
  owner: Jid;
  node: string;
  item: PepItem;
  /** The module that published through the service; undefined when a client published. */
  by: string | undefined;
}

/** A retraction (or a purge or node deletion, with every id). */
export interface RetractEvent {
  owner: Jid;
  node: string;
  ids: string[];
  by: string | undefined;
}

export interface PepService {
  /**
   * Publishes as the account (creating the node with `config` over the defaults when it does not
   * exist; an existing node keeps its configuration). Returns the item id.
   */
  publish(owner: Jid, node: string, item: { id?: string; payload: Element }, opts?: { config?: Partial<NodeConfig>; by?: string }): Promise<string>;
  /** Items of a node, oldest first: all, the given ids, or the last `max`. [] for a missing node. */
  items(owner: Jid, node: string, opts?: { ids?: string[]; max?: number }): Promise<PepItem[]>;
  /** Retracts items (notifying per the node's configuration); returns how many were removed. */
  retract(owner: Jid, node: string, ids: string[], by?: string): Promise<number>;
  nodeConfig(owner: Jid, node: string): Promise<NodeConfig | undefined>;
  /** Called after every publish; errors are logged, never reported to the publisher. */
  onPublish(fn: (e: PublishEvent) => Promise<void> | void): void;
  onRetract(fn: (e: RetractEvent) => Promise<void> | void): void;
}
