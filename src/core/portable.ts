// The per-module export/import extension point: each module turns one account's data into
// XEP-0227 (Portable Import/Export Format) children of <user/> and takes them back on import.
// Types only; the lifecycle that drives it is src/core/lifecycle/portable.ts.
import type { Readable } from "node:stream";
import type { Element } from "../xml/element.js";
import type { Jid } from "../jid/jid.js";

/** An element a module exports and imports under <user/>, by local name and namespace. */
export interface PortableElementName {
  name: string;
  ns: string;
}

/** Why an export is made. */
export interface ExportOptions {
  /**
   * "user": the account's own data export (what the user downloads; never credentials);
   * "migration": an operator's export for another server (`warbler export --with-credentials`).
   * Modules export the same data for both today; the flag lets one leave out server-internal state.
   */
  purpose: "user" | "migration";
}

/** A file the account owns (an upload), written into the export archive under files/<module>/. */
export interface PortableFile {
  /** Relative "/"-separated path below files/<module>/; no "", "." or ".." segments, at most 200 bytes. */
  path: string;
  /** Exact size in bytes (the archive header is written before the content). */
  size: number;
  /** Last modification, ms since the epoch (defaults to the export time). */
  mtime?: number;
  /** The content; called once, while the archive is written. */
  open(): Readable | AsyncIterable<Buffer>;
}

/** What a module exports for one account. */
export interface PortableExport {
  /** Children of <user/>, in the namespaces of PortableHandler.elements. */
  elements: Element[];
  /** The account's files, if the module keeps any. */
  files?: PortableFile[];
}

/** What a module's import receives besides its elements. */
export interface ImportOptions {
  /**
   * A file of the archive being imported, by the path the module gave it on export (below
   * files/<module>/); undefined when absent or when the import is a bare XEP-0227 file.
   */
  file(path: string): Buffer | undefined;
}

/** What a module reports after an import: counts and notes (never message content). */
export interface ImportResult {
  /** Items stored (roster items, messages, blocked addresses…). */
  imported: number;
  /** What was skipped or changed and why, e.g. "2 archived messages already present". */
  notes?: string[];
}

/**
 * A module's part of the account export and import (registered with `ctx.portable(handler)`).
 * Export and import must round-trip: importing what `export` produced into an empty account
 * restores the same data. Import runs for an account that exists (created from the file just
 * before) and must be idempotent where it can (an element imported twice adds nothing).
 */
export interface PortableHandler {
  /** The <user/> children this module exports and imports; an element is claimed by one module only. */
  elements: PortableElementName[];
  export(account: Jid, opts: ExportOptions): Promise<PortableExport> | PortableExport;
  /** Imports the claimed elements found under the account's <user/>, in document order. */
  import(account: Jid, elements: Element[], opts: ImportOptions): Promise<ImportResult> | ImportResult;
}
