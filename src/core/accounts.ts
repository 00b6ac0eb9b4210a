// Accounts: a user name, SCRAM keys and the creation date, nothing else (privacy policy,
// "Account data"). Passwords are never stored, only RFC 5802 salted keys.
import type { Jid } from "../jid/jid.js";
import type { KvStore } from "../storage/types.js";
import type { ScramCredentials } from "./sasl/types.js";
import { credentialsFromJson, credentialsToJson, deriveCredentials, verifyPassword, type ScramCredentialsJson } from "./sasl/credentials.js";
import { StanzaError } from "./errors.js";

/** The stored account record. */
export interface AccountRecord {
  /** Creation date, day precision only (YYYY-MM-DD): the policy promises "the date". */
  created: string;
  scram: ScramCredentialsJson;
}

export interface AccountsOptions {
  iterations: number;
  /** Deletes everything the account owns (the core's lifecycle); returns rows removed per store. */
  purge: (jid: Jid) => Promise<Record<string, number>>;
  now?: () => Date;
}

export class Accounts {
  private readonly store: KvStore<AccountRecord>;
  private readonly opts: AccountsOptions;
  private readonly pending = new Set<string>();
  /**
   * Accounts holding SHA-1 keys only (imported from Prosody or ejabberd), by host. While a host
   * has any, its sessions do not offer SCRAM-SHA-256 (a client choosing it could not log in to
   * them); each such account gains SHA-256 keys at its first PLAIN login or password change.
   */
  private readonly sha1Only = new Map<string, Set<string>>();

  constructor(store: KvStore<AccountRecord>, opts: AccountsOptions) {
    this.store = store;
    this.opts = opts;
  }

  /** Finds the accounts with SHA-1 keys only (once, at start-up: one read per account). */
  async loadKeyKinds(hosts: Iterable<string>): Promise<void> {
    for (const host of hosts) {
      for (const bare of await this.store.owners("@" + host)) {
        const rec = await this.store.get(bare);
        if (rec) this.noteKeys(bare, rec.scram);
      }
    }
  }

  /** Whether some account of `host` can log in only with SCRAM-SHA-1 or PLAIN. */
  hasSha1OnlyAccounts(host: string): boolean {
    return (this.sha1Only.get(host)?.size ?? 0) > 0;
  }

  private noteKeys(bare: string, scram: ScramCredentialsJson | undefined): void {
    const host = bare.slice(bare.indexOf("@") + 1);
    const set = this.sha1Only.get(host) ?? new Set<string>();
    const creds = scram ? credentialsFromJson(scram) : undefined;
    if (creds && creds["SHA-1"] && !creds["SHA-256"]) set.add(bare);
    else set.delete(bare);
    this.sha1Only.set(host, set);
  }

  async exists(jid: Jid): Promise<boolean> {
    return (await this.store.get(jid.bareString)) !== undefined;
  }

  /** Creates an account; throws StanzaError conflict when it exists (XEP-0077 §3.1). */
  async create(jid: Jid, password: string): Promise<void> {
    const key = jid.bareString;
    if (this.pending.has(key) || (await this.store.get(key)) !== undefined) throw new StanzaError("conflict", "Account exists");
    this.pending.add(key);
    try {
      const creds = await deriveCredentials(password, this.opts.iterations);
      if ((await this.store.get(key)) !== undefined) throw new StanzaError("conflict", "Account exists");
      const created = (this.opts.now?.() ?? new Date()).toISOString().slice(0, 10);
      await this.store.set(key, { created, scram: credentialsToJson(creds) });
    } finally {
      this.pending.delete(key);
    }
  }

  /**
   * Creates an account from SCRAM keys made elsewhere (an import: XEP-0227 files from Prosody,
   * ejabberd or Warbler), so users keep their passwords; `created` (YYYY-MM-DD) defaults to
   * today. Throws StanzaError conflict when the account exists.
   */
  async createWithCredentials(jid: Jid, creds: ScramCredentials, created?: string): Promise<void> {
    const key = jid.bareString;
    if (this.pending.has(key) || (await this.store.get(key)) !== undefined) throw new StanzaError("conflict", "Account exists");
    const day = created !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(created) ? created : (this.opts.now?.() ?? new Date()).toISOString().slice(0, 10);
    await this.store.set(key, { created: day, scram: credentialsToJson(creds) });
    this.noteKeys(key, credentialsToJson(creds));
  }

  /** Replaces the SCRAM keys (new salt); the old password stops working at once. */
  async setPassword(jid: Jid, password: string): Promise<void> {
    const rec = await this.store.get(jid.bareString);
    if (!rec) throw new StanzaError("item-not-found", "No such account");
    const creds = await deriveCredentials(password, this.opts.iterations);
    await this.store.set(jid.bareString, { ...rec, scram: credentialsToJson(creds) });
    this.noteKeys(jid.bareString, credentialsToJson(creds));
  }

  /**
   * Adds the keys an imported account lacks (SHA-256 for accounts from Prosody or ejabberd),
   * derived from its verified password with its own salt and iteration count, so the existing
   * keys stay valid. Does nothing when the password does not match or nothing is missing.
   */
  async completeCredentials(jid: Jid, password: string): Promise<void> {
    const rec = await this.store.get(jid.bareString);
    if (!rec) return;
    const creds = credentialsFromJson(rec.scram);
    if (creds["SHA-1"] && creds["SHA-256"]) return;
    if (!(await verifyPassword(creds, password))) return;
    const full = await deriveCredentials(password, creds.iterations, creds.salt);
    const now = await this.store.get(jid.bareString);
    // a password change meanwhile wins
    if (!now || JSON.stringify(now.scram) !== JSON.stringify(rec.scram)) return;
    await this.store.set(jid.bareString, { ...now, scram: credentialsToJson(full) });
    this.noteKeys(jid.bareString, credentialsToJson(full));
  }

  async getCredentials(jid: Jid): Promise<ScramCredentials | undefined> {
    const rec = await this.store.get(jid.bareString);
    return rec ? credentialsFromJson(rec.scram) : undefined;
  }

  async verify(jid: Jid, password: string): Promise<boolean> {
    const creds = await this.getCredentials(jid);
    return creds ? verifyPassword(creds, password) : false;
  }

  async get(jid: Jid): Promise<AccountRecord | undefined> {
    return this.store.get(jid.bareString);
  }

  /** Bare JIDs of the accounts of a host. */
  async list(host: string): Promise<string[]> {
    return (await this.store.owners("@" + host)).sort();
  }

  /** Deletes the account and all it owns; returns rows removed per store. */
  async delete(jid: Jid): Promise<Record<string, number>> {
    if (!(await this.exists(jid))) throw new StanzaError("item-not-found", "No such account");
    const removed = await this.opts.purge(jid.bare());
    this.noteKeys(jid.bareString, undefined);
    return removed;
  }
}
