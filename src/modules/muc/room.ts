// The in-memory state of one room (XEP-0045): settings, affiliations with reserved nicknames,
// occupants and their sessions, subject, recent history, and stable occupant ids (XEP-0421).
import { createHmac, randomBytes } from "node:crypto";
import type { Element } from "../../xml/element.js";
import type { RoomConfig } from "./forms.js";
import type { Affiliation, Role } from "./permissions.js";
import type { HistoryEntry } from "./history.js";

/** An affiliation as stored (XEP-0045 §5.2), with the nickname reserved by registration (§7.10). */
export interface AffiliationRecord {
  affiliation: Affiliation;
  nick?: string;
  reason?: string;
}

/** One occupant: a nickname held by one real bare JID, possibly from several of its resources. */
export interface Occupant {
  nick: string;
  /** The real bare JID. */
  bare: string;
  /** Full JID → its last presence to the room (multi-session nicks, XEP-0045 §7.2.1). */
  sessions: Map<string, Element>;
  role: Role;
  /** When recent messages were sent (rate limit). */
  sent: number[];
}

/** A message kept for history on join. */
export interface RecentMessage extends HistoryEntry {
  /** The message as broadcast (without 'to'). */
  stanza: Element;
  /** The sender's real bare JID (never shown in semi-anonymous rooms). */
  bare: string;
}

/** What a persistent room stores about itself (store muc_rooms). */
export interface RoomRecord {
  config: RoomConfig;
  subject: string;
  subjectBy: string;
  /** Key of the XEP-0421 occupant ids (base64url). */
  secret: string;
  createdAt: number;
}

export class Room {
  readonly jid: string;
  config: RoomConfig;
  subject = "";
  subjectBy = "";
  readonly secret: string;
  readonly createdAt: number;
  /** XEP-0045 §10.1.1: a new room is locked until its owner configures it. */
  locked = false;
  readonly affiliations = new Map<string, AffiliationRecord>();
  /** Nick → occupant. */
  readonly occupants = new Map<string, Occupant>();
  recent: RecentMessage[] = [];
  destroyed = false;

  constructor(jid: string, config: RoomConfig, record?: Pick<RoomRecord, "secret" | "createdAt" | "subject" | "subjectBy">) {
    this.jid = jid;
    this.config = config;
    this.secret = record?.secret ?? randomBytes(32).toString("base64url");
    this.createdAt = record?.createdAt ?? Date.now();
    if (record) {
      this.subject = record.subject;
      this.subjectBy = record.subjectBy;
    }
  }

  record(): RoomRecord {
    return { config: this.config, subject: this.subject, subjectBy: this.subjectBy, secret: this.secret, createdAt: this.createdAt };
  }

  affiliationOf(bare: string): Affiliation {
    return this.affiliations.get(bare)?.affiliation ?? "none";
  }

  /** Sets an affiliation; "none" without a reserved nick removes the record. */
  setAffiliation(bare: string, affiliation: Affiliation, reason?: string): AffiliationRecord | undefined {
    const prev = this.affiliations.get(bare);
    // §7.10: a reserved nickname belongs to a member; it goes when membership goes
    const nick = affiliation === "none" || affiliation === "outcast" ? undefined : prev?.nick;
    if (affiliation === "none") {
      this.affiliations.delete(bare);
      return undefined;
    }
    const rec: AffiliationRecord = { affiliation, ...(nick ? { nick } : {}), ...(reason ? { reason } : {}) };
    this.affiliations.set(bare, rec);
    return rec;
  }

  /** The bare JID that reserved `nick` (XEP-0045 §7.10), if any. */
  nickOwner(nick: string): string | undefined {
    for (const [bare, rec] of this.affiliations) if (rec.nick === nick) return bare;
    return undefined;
  }

  byFull(full: string): Occupant | undefined {
    for (const o of this.occupants.values()) if (o.sessions.has(full)) return o;
    return undefined;
  }

  byBare(bare: string): Occupant[] {
    return [...this.occupants.values()].filter((o) => o.bare === bare);
  }

  owners(): string[] {
    return [...this.affiliations].filter(([, r]) => r.affiliation === "owner").map(([b]) => b);
  }

  /** XEP-0421 §3: the same for a real bare JID in this room, different across rooms and users. */
  occupantId(bare: string): string {
    return createHmac("sha256", this.secret).update(this.jid + "\0" + bare).digest("base64url").slice(0, 24);
  }

  /** Keeps the newest `max` messages for history on join. */
  remember(m: RecentMessage, max: number): void {
    this.recent.push(m);
    if (this.recent.length > max) this.recent.splice(0, this.recent.length - max);
  }

  /** XEP-0045 §6.4 features of the room in disco#info. */
  features(): string[] {
    const c = this.config;
    return [
      "http://jabber.org/protocol/muc",
      c.persistent ? "muc_persistent" : "muc_temporary",
      c.membersOnly ? "muc_membersonly" : "muc_open",
      c.passwordProtected ? "muc_passwordprotected" : "muc_unsecured",
      c.moderated ? "muc_moderated" : "muc_unmoderated",
      c.public ? "muc_public" : "muc_hidden",
      c.whois === "anyone" ? "muc_nonanonymous" : "muc_semianonymous",
    ];
  }
}
