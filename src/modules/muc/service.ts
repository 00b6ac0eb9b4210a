// The multi-user chat service of one server (XEP-0045): every stanza to conference.<host>, a room
// or an occupant arrives here; rooms answer with presence, messages and IQs. Also XEP-0421
// occupant ids, XEP-0410 self-ping, XEP-0313 room archives with XEP-0359 ids, XEP-0203 delays.
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { errorReply } from "../../core/errors.js";
import { errorSummary } from "../../core/session.js";
import type { Core } from "../../core/core.js";
import type { StanzaEvent } from "../../core/events.js";
import type { Logger } from "../../core/log.js";
import type { Config } from "../../config/schema.js";
import { Jid, tryParseJid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { configForm, defaultRoomConfig, parseConfigSubmit, parseRegisterSubmit, registerForm, roomInfoForm, type RoomConfig } from "./forms.js";
import { parseHistoryRequest, selectHistory } from "./history.js";
import {
  AFFILIATIONS,
  ROLES,
  affRank,
  affiliationChangeRefusal,
  defaultRole,
  entryRefusal,
  listRefusal,
  mayChangeSubject,
  mayInvite,
  maySendGroupchat,
  maySendPrivate,
  roleAfterAffiliation,
  roleChangeRefusal,
  seesRealJids,
  type Affiliation,
  type Role,
} from "./permissions.js";
import { Room, type Occupant, type RecentMessage } from "./room.js";
import { xmlReader, type MucStores, type RoomArchived } from "./storage.js";
import {
  NS_MAM,
  NS_MUC,
  NS_MUC_ADMIN,
  NS_MUC_OWNER,
  NS_MUC_USER,
  NS_OCCUPANT_ID,
  NS_PING,
  NS_REGISTER,
  NS_SELF_PING_OPT,
  NS_SID,
  NS_STABLE_ID,
  NS_VCARD,
  cleanPresence,
  isContent,
  occupantPresence,
  parseTime,
  stripOwn,
  subjectMessage,
  type PresenceOptions,
} from "./stanzas.js";

/** The query helpers the archive module provides (XEP-0313 §4); see MamService.queries. */
export interface ArchiveQueries {
  parse(query: Element, maxPageSize: number): { queryid: string | undefined; with: string | undefined; flip: boolean } & Record<string, unknown>;
  run(store: MucStores["archive"], owner: string, plan: never): Promise<{ items: { id: string; when: number; value: RoomArchived }[] }>;
  fin(page: never): Element;
  form(): Element;
  formatDateTime(ms: number): string;
}

type MucConfig = Config["muc"];

interface Actor {
  bare: string;
  aff: Affiliation;
  role: Role;
  occupant: Occupant | undefined;
}

/** A request forwarded to an occupant (XEP-0045 §7.5 IQs to occupants), by the id we sent it with. */
interface ForwardedIq {
  from: string;
  id: string;
  to: string;
  room: string;
  /** The full JID the request went to: only its answer is passed back. */
  responder: string;
}

/** The service: rooms in memory (persistent ones loaded at start), their stores, the routing. */
export class MucService {
  /** Room bare JID → room. Persistent rooms are all loaded (they are small); temporary rooms live only here. */
  readonly rooms = new Map<string, Room>();
  private readonly forwarded = new Map<string, ForwardedIq>();
  /** Room JID → the end of its queue of stanzas being handled. */
  private readonly chains = new Map<string, Promise<void>>();
  private forwardCounter = 0;
  private readonly cfg: MucConfig;

  constructor(
    private readonly core: Core,
    private readonly log: Logger,
    private readonly stores: MucStores,
    private readonly archiveQueries: () => ArchiveQueries | undefined,
    private readonly maxPageSize: number,
  ) {
    this.cfg = core.config.muc;
  }

  // ---- loading and saving ----

  /** Loads the persistent rooms of a service domain with their recent history. */
  async load(domain: string): Promise<void> {
    const read = xmlReader();
    for (const jid of await this.stores.rooms.owners("@" + domain)) {
      const rec = await this.stores.rooms.get(jid);
      if (!rec) continue;
      const room = new Room(jid, { ...defaultRoomConfig(this.cfg.limits.occupantsPerRoom), ...rec.config }, rec);
      for (const [bare, a] of await this.stores.affiliations.getAll(jid)) room.affiliations.set(bare, a);
      if (this.cfg.history.max > 0) {
        const page = await this.stores.archive.query(jid, { limit: this.cfg.history.max, reverse: true });
        for (const item of page.items) {
          const st = read(item.value.xml);
          if (!st) continue;
          stripOwn(st, jid);
          st.append(x("stanza-id", { xmlns: NS_SID, by: jid, id: item.id }));
          room.remember({ stanza: st, bare: item.value.jid, when: item.when, chars: item.value.xml.length }, this.cfg.history.max);
        }
      }
      this.rooms.set(jid, room);
    }
  }

  private async saveRoom(room: Room): Promise<void> {
    if (room.config.persistent && !room.locked) await this.stores.rooms.set(room.jid, room.record());
  }

  private async saveAffiliation(room: Room, bare: string): Promise<void> {
    if (room.config.persistent) await this.stores.affiliations.set(room.jid, bare, room.affiliations.get(bare));
  }

  /** Deletes everything stored about a room (destruction, or a temporary room emptied). */
  private async purgeRoom(jid: string): Promise<void> {
    await this.stores.rooms.set(jid, undefined);
    await this.stores.affiliations.clear(jid);
    await this.stores.archive.delete(jid);
    await this.stores.vcards.set(jid, undefined);
  }

  // ---- routing ----

  /** Handles one stanza to the service, a room or an occupant. Throws StanzaError to bounce. */
  async handle(ev: StanzaEvent): Promise<void> {
    const { stanza, to } = ev;
    const kind = stanza.name;
    if (to.local === "") {
      if (kind === "iq") return this.serviceIq(ev);
      if (kind === "message" && stanza.attrs.type !== "error" && stanza.attrs.type !== "headline") throw new StanzaError("service-unavailable");
      return; // presence to the service: nothing to do
    }
    return this.inRoom(to.bareString, () => this.roomStanza(ev));
  }

  /**
   * Runs `fn` after everything already queued for the room: a room handles one stanza at a time,
   * so checks and changes (joins, kicks, limits) do not interleave. Handling never waits for
   * another room's stanza (the room only sends to users), so the queues cannot deadlock.
   */
  private inRoom<T>(jid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(jid) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.chains.set(jid, tail);
    void tail.then(() => {
      if (this.chains.get(jid) === tail) this.chains.delete(jid);
    });
    return run;
  }

  private async roomStanza(ev: StanzaEvent): Promise<void> {
    const { stanza, to } = ev;
    const kind = stanza.name;
    const roomJid = to.bareString;
    if (kind === "presence") {
      try {
        await this.presence(ev, roomJid);
      } catch (err) {
        // RFC 6121 §4: the core does not bounce presence; a room answers joins with error presence (XEP-0045 §7.2)
        if (!(err instanceof StanzaError)) throw err;
        if (stanza.attrs.type === "error") return;
        const reply = errorReply(stanza, err);
        reply.attrs.from = to.toString();
        reply.attrs.to = ev.from.toString();
        this.core.deliverTo(ev.from, reply);
      }
      return;
    }
    if (kind === "message") return to.resource === "" ? this.roomMessage(ev, roomJid) : this.privateMessage(ev, roomJid);
    if (kind === "iq") return to.resource === "" ? this.roomIq(ev, roomJid) : this.occupantIq(ev, roomJid);
  }

  /** Sends a stanza to one real full JID; a session that is gone makes its occupant a ghost to remove. */
  private async sendTo(full: string, stanza: Element, ghosts?: Set<string>): Promise<void> {
    const j = tryParseJid(full);
    if (!j) return;
    if (!this.core.sessionFor(j)) {
      ghosts?.add(full);
      return;
    }
    stanza.attrs.to = full;
    stanza.ns = NS.CLIENT;
    await this.core.route(stanza);
  }

  private async reply(ev: StanzaEvent, payload?: Element | null): Promise<void> {
    this.core.deliverTo(
      ev.from,
      x("iq", { xmlns: NS.CLIENT, type: "result", id: ev.stanza.attrs.id, from: ev.to.toString(), to: ev.from.toString() }, payload ?? null),
    );
  }

  private actor(room: Room, from: Jid): Actor {
    const occupant = room.byFull(from.toString());
    return { bare: from.bareString, aff: room.affiliationOf(from.bareString), role: occupant?.role ?? "none", occupant };
  }

  // ---- presence (XEP-0045 §7.2 entering, §7.6 nick change, §7.7 status, §7.14 exit) ----

  private async presence(ev: StanzaEvent, roomJid: string): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    const full = from.toString();
    let room = this.rooms.get(roomJid);
    if (type === "error") {
      // An occupant's client or server refused our presence: it is gone (XEP-0045 §18.1 ghosts)
      const o = room?.byFull(full);
      if (room && o) await this.removeSession(room, o, full, [333]);
      return;
    }
    if (type !== undefined && type !== "unavailable") return; // probes, subscriptions: nothing in a room
    if (type === "unavailable") {
      const o = room?.byFull(full);
      if (room && o) await this.removeSession(room, o, full, [], stanza);
      return;
    }
    if (to.resource === "") throw new StanzaError("jid-malformed", "A nickname is needed to enter a room"); // XEP-0045 §7.2.1
    const nick = to.resource;
    let created = false;
    if (!room) {
      room = await this.createRoom(roomJid, from);
      created = true;
    }
    const existing = room.byFull(full);
    if (existing) {
      if (existing.nick === nick) return this.presenceUpdate(room, existing, full, stanza);
      return this.changeNick(room, existing, full, nick, stanza);
    }
    await this.join(room, from, nick, stanza, created);
  }

  private async createRoom(roomJid: string, from: Jid): Promise<Room> {
    const bare = from.bareString;
    // XEP-0045 §10.1.1: a user who may not create rooms gets not-allowed
    if (this.cfg.creators.length > 0 && !this.cfg.creators.includes(bare)) throw new StanzaError("not-allowed", "You may not create rooms here");
    if (!this.core.isLocalHost(from.domain)) throw new StanzaError("not-allowed", "Only users of this server may create rooms");
    const owned = [...this.rooms.values()].filter((r) => r.affiliationOf(bare) === "owner").length;
    if (owned >= this.cfg.limits.roomsPerAccount) throw new StanzaError("resource-constraint", "You own too many rooms");
    const room = new Room(roomJid, defaultRoomConfig(this.cfg.limits.occupantsPerRoom));
    room.locked = true; // XEP-0045 §10.1.1: until the owner configures it (or accepts the defaults)
    room.setAffiliation(bare, "owner");
    this.rooms.set(roomJid, room);
    this.log.info({ room: roomJid }, "room created");
    return room;
  }

  private maxOccupants(room: Room): number {
    return Math.min(room.config.maxUsers, this.cfg.limits.occupantsPerRoom);
  }

  private async join(room: Room, from: Jid, nick: string, stanza: Element, created: boolean): Promise<void> {
    const full = from.toString();
    const bare = from.bareString;
    const aff = room.affiliationOf(bare);
    const mucX = stanza.getChild("x", NS_MUC);
    // XEP-0045 §7.2.1 / §10.1.1: a locked room is not there for anyone but its owner
    if (room.locked && aff !== "owner") throw new StanzaError("item-not-found", "The room is not configured yet");
    const refusal = entryRefusal(aff, room.config.membersOnly);
    if (refusal === "forbidden") throw new StanzaError("forbidden", "You are banned from this room"); // §7.2.7
    if (refusal === "registration-required") throw new StanzaError("registration-required", "This room is for members only"); // §7.2.6
    // §7.2.8 nick conflict: held by someone else, or reserved by someone else (§7.10)
    const holder = room.occupants.get(nick);
    if (holder && holder.bare !== bare) throw new StanzaError("conflict", "That nickname is in use");
    const reservedBy = room.nickOwner(nick);
    if (reservedBy !== undefined && reservedBy !== bare) throw new StanzaError("conflict", "That nickname is reserved");
    // §7.2.5 password
    if (room.config.passwordProtected && aff !== "owner" && mucX?.getChildText("password") !== room.config.password) {
      throw new StanzaError("not-authorized", "A password is required");
    }
    // §7.2.9: the room is full (admins and owners still enter)
    if (!holder && room.occupants.size >= this.maxOccupants(room) && affRank(aff) < affRank("admin")) {
      throw new StanzaError("service-unavailable", "The room is full");
    }
    let occupant = holder;
    const firstSession = !occupant;
    if (!occupant) {
      occupant = { nick, bare, sessions: new Map(), role: defaultRole(aff, room.config.moderated), sent: [] };
      room.occupants.set(nick, occupant);
    }
    occupant.sessions.set(full, cleanPresence(stanza));
    const ghosts = new Set<string>();
    // §7.2.3: the presence of everyone already there, to the new occupant's session only
    for (const o of room.occupants.values()) {
      if (o === occupant) continue;
      await this.sendTo(full, occupantPresence(room, o, occupant.role), ghosts);
    }
    // §7.2.3: the new occupant's presence to everyone (to itself with status 110 and the room's codes)
    const selfCodes = [110];
    if (room.config.whois === "anyone") selfCodes.push(100); // §7.2.4 non-anonymous
    if (room.config.logging && room.config.persistent) selfCodes.push(170); // §7.2.12 logged
    if (created) selfCodes.push(201); // §10.1.1 new room
    if (firstSession) await this.broadcastPresence(room, occupant, { selfCodes }, ghosts);
    else await this.sendTo(full, occupantPresence(room, occupant, occupant.role, { codes: selfCodes }), ghosts);
    if (!created) {
      // §7.2.15 history, with XEP-0203 delays, then §7.2.16 the subject
      const req = parseHistoryRequest(mucX?.getChild("history"), parseTime);
      // nothing older than the archive keeps (muc.archiveRetentionDays)
      const fresh = room.recent.filter((m) => m.when >= Date.now() - this.cfg.archiveRetentionDays * 86_400_000);
      const picked = selectHistory(fresh, req, Date.now(), { defaultCount: this.cfg.history.default, max: this.cfg.history.max });
      for (const m of picked) {
        const h = m.stanza.clone();
        h.append(x("delay", { xmlns: NS.DELAY, from: room.jid, stamp: new Date(m.when).toISOString() }));
        await this.sendTo(full, h, ghosts);
      }
    }
    // §7.2.16: the subject (even empty) ends every entry, the creator's of a new room too; clients
    // such as slixmpp's join_muc_wait wait for it
    await this.sendTo(full, subjectMessage(room), ghosts);
    await this.removeGhosts(room, ghosts);
  }

  /** Sends an occupant's presence to every occupant; its own sessions get `selfCodes` added. */
  private async broadcastPresence(
    room: Room,
    subject: Occupant,
    opts: PresenceOptions & { selfCodes?: number[] },
    ghosts: Set<string>,
  ): Promise<void> {
    for (const v of [...room.occupants.values()]) {
      if (v === subject) continue;
      const p = occupantPresence(room, subject, v.role, opts);
      for (const full of v.sessions.keys()) await this.sendTo(full, p.clone(), ghosts);
    }
    const self = occupantPresence(room, subject, subject.role, { ...opts, codes: [...(opts.codes ?? []), ...(opts.selfCodes ?? [])] });
    for (const full of subject.sessions.keys()) await this.sendTo(full, self.clone(), ghosts);
  }

  private async presenceUpdate(room: Room, o: Occupant, full: string, stanza: Element): Promise<void> {
    o.sessions.set(full, cleanPresence(stanza));
    const ghosts = new Set<string>();
    await this.broadcastPresence(room, o, { selfCodes: [110] }, ghosts); // §7.7
    await this.removeGhosts(room, ghosts);
  }

  private async changeNick(room: Room, o: Occupant, full: string, nick: string, stanza: Element): Promise<void> {
    // §7.6: conflicts as on entering
    if (room.occupants.has(nick)) throw new StanzaError("conflict", "That nickname is in use");
    const reservedBy = room.nickOwner(nick);
    if (reservedBy !== undefined && reservedBy !== o.bare) throw new StanzaError("conflict", "That nickname is reserved");
    if (o.sessions.size > 1) throw new StanzaError("not-acceptable", "Change the nickname from one session at a time");
    const ghosts = new Set<string>();
    // §7.6.3: unavailable with status 303 and the new nick, then available under the new nick
    await this.broadcastPresence(room, o, { unavailable: true, codes: [303], itemNick: nick, selfCodes: [110] }, ghosts);
    room.occupants.delete(o.nick);
    o.nick = nick;
    room.occupants.set(nick, o);
    o.sessions.set(full, cleanPresence(stanza));
    await this.broadcastPresence(room, o, { selfCodes: [110] }, ghosts);
    await this.removeGhosts(room, ghosts);
  }

  /** One session leaves; the occupant leaves with its last session (§7.14). */
  private async removeSession(room: Room, o: Occupant, full: string, codes: number[], stanza?: Element): Promise<void> {
    if (o.sessions.size > 1) {
      o.sessions.delete(full);
      const own = occupantPresence(room, o, o.role, { unavailable: true, codes: [110, ...codes] });
      await this.sendTo(full, own);
      return;
    }
    await this.removeOccupant(room, o, { codes, ...(stanza ? { base: cleanPresence(stanza) } : {}) });
  }

  /** Removes an occupant with an unavailable presence to all (kick, ban, leave, destruction). */
  private async removeOccupant(
    room: Room,
    o: Occupant,
    opts: { codes: number[]; actor?: string; reason?: string; destroy?: Element; base?: Element },
  ): Promise<void> {
    const ghosts = new Set<string>();
    await this.broadcastPresence(room, o, { unavailable: true, ...opts, selfCodes: [110] }, ghosts);
    room.occupants.delete(o.nick);
    o.role = "none";
    await this.removeGhosts(room, ghosts);
    await this.maybeVanish(room);
  }

  private async removeGhosts(room: Room, ghosts: Set<string>): Promise<void> {
    for (const full of ghosts) {
      const o = room.byFull(full);
      if (!o) continue;
      // XEP-0045 §18.1: status 333, removed for technical reasons
      if (o.sessions.size > 1) o.sessions.delete(full);
      else await this.removeOccupant(room, o, { codes: [333] });
    }
  }

  /** A temporary room vanishes with its last occupant (XEP-0045 §4.2). */
  private async maybeVanish(room: Room): Promise<void> {
    if (room.occupants.size > 0 || room.config.persistent || room.destroyed) return;
    room.destroyed = true;
    this.rooms.delete(room.jid);
    await this.purgeRoom(room.jid);
  }

  // ---- messages (XEP-0045 §7.4 groupchat, §7.5 private, §7.8 invitations, §8.1 subject) ----

  /**
   * The room and sender of a message to a room or an occupant; undefined when the message is
   * already dealt with: an error bounced by an occupant's server removes the ghost (XEP-0045 §18.1).
   */
  private async messageTarget(ev: StanzaEvent, roomJid: string): Promise<{ room: Room; a: ReturnType<MucService["actor"]> } | undefined> {
    const type = ev.stanza.attrs.type;
    const room = this.rooms.get(roomJid);
    if (!room) {
      if (type === "error") return undefined;
      throw new StanzaError("item-not-found", "No such room");
    }
    const a = this.actor(room, ev.from);
    if (type === "error") {
      if (a.occupant) await this.removeSession(room, a.occupant, ev.from.toString(), [333]);
      return undefined;
    }
    return { room, a };
  }

  private async roomMessage(ev: StanzaEvent, roomJid: string): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type;
    const target = await this.messageTarget(ev, roomJid);
    if (!target) return;
    const { room, a } = target;
    if (type === "groupchat") return this.groupchat(room, a, stanza, from);
    const userX = stanza.getChild("x", NS_MUC_USER);
    const invites = userX?.getChildren("invite") ?? [];
    if (invites.length > 0) return this.invite(room, a, from, invites, userX!);
    const decline = userX?.getChild("decline");
    if (decline) return this.decline(room, from, decline);
    throw new StanzaError("bad-request", "Messages to a room are groupchat, invitations or declines");
  }

  private rateLimited(o: Occupant, now: number): boolean {
    while (o.sent.length > 0 && o.sent[0]! <= now - 60_000) o.sent.shift();
    if (o.sent.length >= this.cfg.limits.messagesPerMinute) return true;
    o.sent.push(now);
    return false;
  }

  private async groupchat(room: Room, a: Actor, stanza: Element, from: Jid): Promise<void> {
    const o = a.occupant;
    if (!o) throw new StanzaError("not-acceptable", "Only occupants may send messages to the room"); // §7.4
    const subject = stanza.getChild("subject");
    const body = stanza.getChild("body");
    if (subject && !body) {
      // §8.1: a subject change
      if (!mayChangeSubject(o.role, room.config)) throw new StanzaError("forbidden", "You may not change the subject");
      room.subject = subject.text();
      room.subjectBy = o.nick;
      await this.saveRoom(room);
    } else if (!maySendGroupchat(o.role)) {
      throw new StanzaError("forbidden", "Visitors have no voice in this room"); // §7.4 moderated rooms
    }
    const now = Date.now();
    if (this.rateLimited(o, now)) throw new StanzaError("resource-constraint", "Too many messages; wait a moment", { type: "wait" });
    const out = stanza.clone();
    stripOwn(out, room.jid);
    delete out.attrs.to;
    out.attrs.from = `${room.jid}/${o.nick}`;
    out.ns = NS.CLIENT;
    out.append(x("occupant-id", { xmlns: NS_OCCUPANT_ID, id: room.occupantId(o.bare) })); // XEP-0421 §4
    if (!subject && isContent(out)) {
      const xml = out.toString();
      let id: string | undefined;
      if (room.config.persistent && room.config.logging) {
        // XEP-0313 §6.1.2: the room archive, durable before the broadcast
        try {
          id = await this.stores.archive.append(room.jid, { when: now, with: o.bare, value: { xml, jid: o.bare } });
          out.append(x("stanza-id", { xmlns: NS_SID, by: room.jid, id })); // XEP-0359 §4
        } catch (err) {
          // The message still goes out: a gap in the archive is better than a lost message
          this.log.error({ err: errorSummary(err), room: room.jid }, "room archiving failed");
        }
      }
      room.remember({ stanza: out.clone(), bare: o.bare, when: now, chars: xml.length }, this.cfg.history.max);
    }
    void from;
    const ghosts = new Set<string>();
    for (const v of [...room.occupants.values()]) for (const full of v.sessions.keys()) await this.sendTo(full, out.clone(), ghosts);
    await this.removeGhosts(room, ghosts);
  }

  private async invite(room: Room, a: Actor, from: Jid, invites: Element[], userX: Element): Promise<void> {
    // §7.8.2: mediated invitations come from occupants allowed to invite
    if (!a.occupant && affRank(a.aff) < affRank("admin")) throw new StanzaError("not-acceptable", "Only occupants may invite");
    if (!mayInvite(a.role, a.aff, room.config)) throw new StanzaError("forbidden", "You may not invite others to this room");
    // Invitations reach people outside the room: they count against the sender's message rate
    if (invites.length > 10) throw new StanzaError("policy-violation", "At most 10 invitations per message");
    if (a.occupant && this.rateLimited(a.occupant, Date.now())) throw new StanzaError("resource-constraint", "Too many messages; wait a moment", { type: "wait" });
    for (const inv of invites) {
      const to = tryParseJid(inv.attrs.to ?? "");
      if (!to) throw new StanzaError("jid-malformed", "Invitations need a valid 'to'");
      // §7.8.2: in a members-only room, an invitation by someone who may invite makes the invitee a member
      if (room.config.membersOnly && room.affiliationOf(to.bareString) === "none") {
        room.setAffiliation(to.bareString, "member");
        await this.saveAffiliation(room, to.bareString);
      }
      const reason = inv.getChildText("reason");
      const msg = x(
        "message",
        { xmlns: NS.CLIENT, from: room.jid, to: to.toString() },
        x(
          "x",
          { xmlns: NS_MUC_USER },
          x("invite", { from: from.toString() }, reason !== undefined ? x("reason", null, reason) : null),
          room.config.passwordProtected ? x("password", null, room.config.password) : null,
        ),
        x("body", null, `${from.bareString} invites you to the room ${room.jid}${reason ? `: ${reason}` : ""}`),
      );
      void userX;
      await this.core.route(msg);
    }
  }

  private async decline(room: Room, from: Jid, decline: Element): Promise<void> {
    // §7.8.3: passed on to the inviter, from the room
    const to = tryParseJid(decline.attrs.to ?? "");
    if (!to) throw new StanzaError("jid-malformed", "A decline needs a valid 'to'");
    const reason = decline.getChildText("reason");
    await this.core.route(
      x(
        "message",
        { xmlns: NS.CLIENT, from: room.jid, to: to.toString() },
        x("x", { xmlns: NS_MUC_USER }, x("decline", { from: from.bareString }, reason !== undefined ? x("reason", null, reason) : null)),
      ),
    );
  }

  private async privateMessage(ev: StanzaEvent, roomJid: string): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    const found = await this.messageTarget(ev, roomJid);
    if (!found) return;
    const { room, a } = found;
    if (type === "groupchat") throw new StanzaError("bad-request", "Groupchat messages go to the room"); // §7.5
    if (!a.occupant) throw new StanzaError("not-acceptable", "Only occupants may send private messages"); // §7.5
    if (!maySendPrivate(a.role, room.config)) throw new StanzaError("forbidden", "Private messages are not allowed here");
    const target = room.occupants.get(to.resource);
    if (!target) throw new StanzaError("item-not-found", "No occupant with that nickname"); // §7.5
    if (this.rateLimited(a.occupant, Date.now())) throw new StanzaError("resource-constraint", "Too many messages; wait a moment", { type: "wait" });
    const out = stanza.clone();
    stripOwn(out, room.jid);
    out.attrs.from = `${room.jid}/${a.occupant.nick}`;
    out.ns = NS.CLIENT;
    // §7.5: marked as coming through the room, so clients do not take it for a chat with the bare JID
    if (!out.getChild("x", NS_MUC_USER)) out.append(x("x", { xmlns: NS_MUC_USER }));
    out.append(x("occupant-id", { xmlns: NS_OCCUPANT_ID, id: room.occupantId(a.occupant.bare) }));
    const ghosts = new Set<string>();
    for (const full of target.sessions.keys()) await this.sendTo(full, out.clone(), ghosts);
    await this.removeGhosts(room, ghosts);
  }

  // ---- IQs to occupants (XEP-0410 self-ping, XEP-0045 §7.5 IQs passed on) ----

  private async occupantIq(ev: StanzaEvent, roomJid: string): Promise<void> {
    const { stanza, from, to } = ev;
    const type = stanza.attrs.type;
    const room = this.rooms.get(roomJid);
    if (type === "result" || type === "error") {
      // an occupant answering a request we passed on: back to the requester, from the occupant's room JID
      const f = this.forwarded.get(stanza.attrs.id ?? "");
      if (!f || f.room !== roomJid || f.responder !== from.toString()) return;
      this.forwarded.delete(stanza.attrs.id!);
      const back = stanza.clone();
      back.attrs.id = f.id;
      back.attrs.from = f.to;
      back.attrs.to = f.from;
      this.core.deliverTo(tryParseJid(f.from)!, back);
      return;
    }
    if (!room) throw new StanzaError("item-not-found", "No such room");
    const sender = room.byFull(from.toString());
    const payload = stanza.elements()[0];
    // XEP-0410 §3: a ping to one's own occupant JID is answered by the service
    if (payload?.name === "ping" && payload.ns === NS_PING && type === "get") {
      if (!sender || sender.nick !== to.resource) throw new StanzaError("not-acceptable", "You are not in the room under that nickname");
      return this.reply(ev);
    }
    if (!sender) throw new StanzaError("not-acceptable", "Only occupants may send requests to occupants");
    const target = room.occupants.get(to.resource);
    if (!target) throw new StanzaError("item-not-found", "No occupant with that nickname");
    // XEP-0045 §7.5 (versions, pings, vCards…): passed on to the occupant's client with the
    // requester's room JID. COMPAT: vCards are not asked of the occupant's bare JID as some
    // services do: the core delivers server replies only to local hosts, so the answer could not
    // come back to the room.
    const id = "muc" + ++this.forwardCounter;
    const targetFull = [...target.sessions.keys()][0]!;
    this.forwarded.set(id, { from: from.toString(), id: stanza.attrs.id ?? "", to: to.toString(), room: roomJid, responder: targetFull });
    if (this.forwarded.size > 10_000) this.forwarded.delete(this.forwarded.keys().next().value!);
    const fwd = stanza.clone();
    fwd.attrs.id = id;
    fwd.attrs.from = `${room.jid}/${sender.nick}`;
    await this.sendTo(targetFull, fwd);
  }

  // ---- IQs to the service (XEP-0030) ----

  private async serviceIq(ev: StanzaEvent): Promise<void> {
    const { stanza } = ev;
    const type = stanza.attrs.type;
    if (type === "result" || type === "error") return;
    const p = stanza.elements()[0];
    if (!p) throw new StanzaError("bad-request");
    if (type === "get" && p.ns === NS.DISCO_INFO && p.name === "query") {
      if (p.attrs.node !== undefined) throw new StanzaError("item-not-found");
      return this.reply(
        ev,
        x(
          "query",
          { xmlns: NS.DISCO_INFO },
          x("identity", { category: "conference", type: "text", name: "Chatrooms" }),
          ...[NS.DISCO_INFO, NS.DISCO_ITEMS, NS_MUC, NS_OCCUPANT_ID, NS_PING].map((f) => x("feature", { var: f })),
        ),
      );
    }
    if (type === "get" && p.ns === NS.DISCO_ITEMS && p.name === "query") {
      // XEP-0045 §6.3: public rooms only
      const items = [...this.rooms.values()]
        .filter((r) => r.jid.endsWith("@" + ev.to.domain) && r.config.public && !r.locked)
        .sort((a, b) => (a.jid < b.jid ? -1 : 1))
        .map((r) => x("item", { jid: r.jid, name: r.config.name || undefined }));
      return this.reply(ev, x("query", { xmlns: NS.DISCO_ITEMS }, ...items));
    }
    if (type === "get" && p.ns === NS_PING && p.name === "ping") return this.reply(ev);
    throw new StanzaError("service-unavailable");
  }

  // ---- IQs to a room ----

  private async roomIq(ev: StanzaEvent, roomJid: string): Promise<void> {
    const { stanza, from } = ev;
    const type = stanza.attrs.type;
    if (type === "result" || type === "error") return;
    const p = stanza.elements()[0];
    if (!p || (type !== "get" && type !== "set")) throw new StanzaError("bad-request");
    const room = this.rooms.get(roomJid);
    const a = room ? this.actor(room, from) : undefined;
    // XEP-0045 §10.1.1: a locked room is invisible to all but its owner
    if (!room || !a || (room.locked && a.aff !== "owner")) throw new StanzaError("item-not-found", "No such room");
    const key = `${type} ${p.ns} ${p.name}`;
    switch (key) {
      case `get ${NS.DISCO_INFO} query`:
        return this.reply(ev, this.roomInfo(room, a, p.attrs.node));
      case `get ${NS.DISCO_ITEMS} query`:
        return this.reply(ev, x("query", { xmlns: NS.DISCO_ITEMS, node: p.attrs.node })); // §6.5: occupants are not listed
      case `get ${NS_PING} ping`:
        return this.reply(ev);
      case `get ${NS_MUC_OWNER} query`:
        if (a.aff !== "owner") throw new StanzaError("forbidden", "Only owners configure the room"); // §10.2
        return this.reply(ev, x("query", { xmlns: NS_MUC_OWNER }, configForm(room.config, this.cfg.limits.occupantsPerRoom)));
      case `set ${NS_MUC_OWNER} query`:
        if (a.aff !== "owner") throw new StanzaError("forbidden", "Only owners configure or destroy the room"); // §10.2, §10.9
        return this.ownerSet(ev, room, a, p);
      case `get ${NS_MUC_ADMIN} query`:
        return this.reply(ev, this.adminGet(room, a, p));
      case `set ${NS_MUC_ADMIN} query`:
        await this.adminSet(room, a, p);
        return this.reply(ev);
      case `get ${NS_REGISTER} query`:
        return this.reply(ev, this.registerGet(room, a));
      case `set ${NS_REGISTER} query`:
        await this.registerSet(room, a, p);
        return this.reply(ev);
      case `get ${NS_VCARD} vCard`: {
        const v = await this.stores.vcards.get(room.jid);
        const el = v ? xmlReader()(v.xml) : undefined;
        return this.reply(ev, el ?? x("vCard", { xmlns: NS_VCARD }));
      }
      case `set ${NS_VCARD} vCard`:
        if (a.aff !== "owner") throw new StanzaError("forbidden", "Only owners set the room's vCard");
        if (p.toString().length > 256 * 1024) throw new StanzaError("not-acceptable", "vCard too large");
        await this.stores.vcards.set(room.jid, { xml: p.toString() });
        return this.reply(ev);
      case `set ${NS_MAM} query`:
        return this.mamQuery(ev, room, a, p);
      case `get ${NS_MAM} query`: {
        const q = this.archiveQueries();
        if (!q || !room.config.persistent || !room.config.logging) throw new StanzaError("service-unavailable");
        return this.reply(ev, q.form());
      }
      default:
        throw new StanzaError("service-unavailable");
    }
  }

  private archived(room: Room): boolean {
    return room.config.persistent && room.config.logging && this.archiveQueries() !== undefined;
  }

  private roomInfo(room: Room, a: Actor, node: string | undefined): Element {
    if (node === "x-roomuser-item") {
      // XEP-0045 §7.13: the requester's reserved nickname, if any
      const nick = room.affiliations.get(a.bare)?.nick;
      return x("query", { xmlns: NS.DISCO_INFO, node }, nick ? x("identity", { category: "conference", type: "text", name: nick }) : null);
    }
    if (node !== undefined) throw new StanzaError("item-not-found");
    const features = [
      ...room.features(),
      NS.DISCO_INFO,
      NS.DISCO_ITEMS,
      NS_REGISTER,
      NS_VCARD,
      NS_OCCUPANT_ID,
      NS_SELF_PING_OPT,
      NS_PING,
      NS_STABLE_ID,
      NS_SID,
      ...(this.archived(room) ? [NS_MAM] : []),
    ];
    return x(
      "query",
      { xmlns: NS.DISCO_INFO },
      x("identity", { category: "conference", type: "text", name: room.config.name || room.jid.split("@")[0] }),
      ...features.map((f) => x("feature", { var: f })),
      roomInfoForm(room.config, room.occupants.size, room.subject),
    );
  }

  // ---- owner (XEP-0045 §10) ----

  private async ownerSet(ev: StanzaEvent, room: Room, a: Actor, q: Element): Promise<void> {
    const destroy = q.getChild("destroy");
    if (destroy) {
      await this.destroy(room, destroy);
      return this.reply(ev);
    }
    const form = q.getChild("x", NS.DATA);
    if (!form) throw new StanzaError("bad-request", "Expected a data form or <destroy/>");
    if (form.attrs.type === "cancel") {
      // §10.1.3: cancelling the initial configuration destroys the new room
      if (room.locked) await this.destroy(room, x("destroy"));
      return this.reply(ev);
    }
    if (form.attrs.type !== "submit") throw new StanzaError("bad-request", "The form must be submitted");
    const before = room.config;
    const after = parseConfigSubmit(form, before, this.cfg.limits.occupantsPerRoom);
    const wasLocked = room.locked;
    room.config = after;
    room.locked = false; // §10.1.2 instant room / §10.1.3 reserved room configured
    if (after.persistent) {
      await this.saveRoom(room);
      if (!before.persistent || wasLocked) await this.stores.affiliations.setMany(room.jid, Object.fromEntries(room.affiliations));
    } else if (before.persistent) {
      await this.stores.rooms.set(room.jid, undefined);
      await this.stores.affiliations.clear(room.jid);
    }
    await this.reply(ev);
    if (!wasLocked) {
      // §10.2.1: occupants learn of the change (104), and of a change of anonymity (172, 173)
      const codes = [104];
      if (before.whois !== after.whois) codes.push(after.whois === "anyone" ? 172 : 173);
      if (before.logging !== after.logging) codes.push(after.logging ? 170 : 171);
      const msg = x("message", { xmlns: NS.CLIENT, type: "groupchat", from: room.jid }, x("x", { xmlns: NS_MUC_USER }, ...codes.map((c) => x("status", { code: String(c) }))));
      const ghosts = new Set<string>();
      for (const v of [...room.occupants.values()]) for (const full of v.sessions.keys()) await this.sendTo(full, msg.clone(), ghosts);
      await this.removeGhosts(room, ghosts);
    }
    // §9.3 / status 322: a room that became members-only removes those who are not members
    if (after.membersOnly && !before.membersOnly) {
      for (const o of [...room.occupants.values()]) {
        if (affRank(room.affiliationOf(o.bare)) < affRank("member")) await this.removeOccupant(room, o, { codes: [322] });
      }
    }
    void a;
    await this.maybeVanish(room);
  }

  /** XEP-0045 §10.9: every occupant is told (with the alternate venue and reason), then the room is gone. */
  async destroy(room: Room, destroy: Element): Promise<void> {
    const alt = destroy.attrs.jid;
    const reason = destroy.getChildText("reason");
    const d = x(
      "destroy",
      { jid: alt && tryParseJid(alt) ? alt : undefined },
      reason !== undefined ? x("reason", null, reason) : null,
      // §10.9: a password for the alternate venue, when given
      destroy.getChildText("password") !== undefined ? x("password", null, destroy.getChildText("password")!) : null,
    );
    room.destroyed = true;
    this.rooms.delete(room.jid);
    this.log.info({ room: room.jid }, "room destroyed");
    for (const o of [...room.occupants.values()]) {
      const p = occupantPresence(room, o, o.role, { unavailable: true, destroy: d.clone() });
      // §10.9: affiliation and role are none
      p.getChild("x", NS_MUC_USER)!.getChild("item")!.attrs.affiliation = "none";
      for (const full of o.sessions.keys()) await this.sendTo(full, p.clone());
    }
    room.occupants.clear();
    await this.purgeRoom(room.jid);
  }

  // ---- admin (XEP-0045 §8, §9) ----

  private adminGet(room: Room, a: Actor, q: Element): Element {
    const items = q.getChildren("item");
    if (items.length !== 1) throw new StanzaError("bad-request", "Ask for one list");
    const it = items[0]!;
    const aff = it.attrs.affiliation as Affiliation | undefined;
    const role = it.attrs.role as Role | undefined;
    if (aff !== undefined && AFFILIATIONS.includes(aff) && aff !== "none") {
      const r = listRefusal(a, aff, room.config);
      if (r) throw new StanzaError(r);
      const out = [...room.affiliations]
        .filter(([, rec]) => rec.affiliation === aff)
        .map(([bare, rec]) => x("item", { affiliation: aff, jid: bare, nick: rec.nick }, rec.reason ? x("reason", null, rec.reason) : null));
      return x("query", { xmlns: NS_MUC_ADMIN }, ...out);
    }
    if (role !== undefined && ROLES.includes(role) && role !== "none") {
      const r = listRefusal(a, role, room.config);
      if (r) throw new StanzaError(r);
      const out = [...room.occupants.values()]
        .filter((o) => o.role === role)
        .map((o) => x("item", { role, nick: o.nick, affiliation: room.affiliationOf(o.bare), jid: [...o.sessions.keys()][0] }));
      return x("query", { xmlns: NS_MUC_ADMIN }, ...out);
    }
    throw new StanzaError("bad-request", "Unknown list");
  }

  private async adminSet(room: Room, a: Actor, q: Element): Promise<void> {
    const items = q.getChildren("item");
    if (items.length === 0) throw new StanzaError("bad-request", "No items");
    // Every change is checked before any is made (§9.3: the list is changed as a whole or not at all)
    const changes: (() => Promise<void>)[] = [];
    const pendingAff = new Map<string, Affiliation>();
    const ownerCount = () => {
      const owners = new Set(room.owners());
      for (const [bare, aff] of pendingAff) {
        if (aff === "owner") owners.add(bare);
        else owners.delete(bare);
      }
      return owners.size;
    };
    for (const it of items) {
      const reason = it.getChildText("reason");
      if (it.attrs.role !== undefined) {
        const newRole = it.attrs.role as Role;
        if (!ROLES.includes(newRole)) throw new StanzaError("bad-request", "Unknown role");
        const target = room.occupants.get(it.attrs.nick ?? "");
        if (!target) throw new StanzaError("item-not-found", "No occupant with that nickname"); // §8.2
        const refusal = roleChangeRefusal(a, { aff: room.affiliationOf(target.bare), role: target.role }, newRole);
        if (refusal) throw new StanzaError(refusal);
        changes.push(async () => {
          if (!room.occupants.has(target.nick)) return;
          if (newRole === "none") {
            // §8.2: kicked, status 307
            await this.removeOccupant(room, target, { codes: [307], ...(a.occupant ? { actor: a.occupant.nick } : {}), ...(reason !== undefined ? { reason } : {}) });
          } else {
            target.role = newRole;
            const ghosts = new Set<string>();
            await this.broadcastPresence(room, target, { ...(reason !== undefined ? { reason } : {}), selfCodes: [110] }, ghosts);
            await this.removeGhosts(room, ghosts);
          }
        });
      } else if (it.attrs.affiliation !== undefined) {
        const newAff = it.attrs.affiliation as Affiliation;
        if (!AFFILIATIONS.includes(newAff)) throw new StanzaError("bad-request", "Unknown affiliation");
        let bare: string | undefined;
        if (it.attrs.jid !== undefined) {
          const j = tryParseJid(it.attrs.jid);
          if (!j) throw new StanzaError("jid-malformed");
          bare = j.bareString;
        } else if (it.attrs.nick !== undefined) {
          bare = room.occupants.get(it.attrs.nick)?.bare;
          if (!bare) throw new StanzaError("item-not-found", "No occupant with that nickname");
        } else throw new StanzaError("bad-request", "An item needs a jid or nick");
        const current = pendingAff.get(bare) ?? room.affiliationOf(bare);
        const refusal = affiliationChangeRefusal(a.aff, current, newAff);
        if (refusal) throw new StanzaError(refusal);
        pendingAff.set(bare, newAff);
        // §10.7: the last owner cannot go
        if (current === "owner" && newAff !== "owner" && ownerCount() === 0) throw new StanzaError("conflict", "A room needs an owner");
        const target = bare;
        changes.push(() => this.applyAffiliation(room, a, target, newAff, reason));
      } else throw new StanzaError("bad-request", "An item needs a role or an affiliation");
    }
    for (const c of changes) await c();
  }

  private async applyAffiliation(room: Room, a: Actor, bare: string, newAff: Affiliation, reason: string | undefined): Promise<void> {
    room.setAffiliation(bare, newAff, reason);
    await this.saveAffiliation(room, bare);
    const actor = a.occupant ? { actor: a.occupant.nick } : {};
    const why = reason !== undefined ? { reason } : {};
    for (const o of room.byBare(bare)) {
      const role = roleAfterAffiliation(newAff, o.role, room.config.moderated, room.config.membersOnly);
      if (newAff === "outcast") await this.removeOccupant(room, o, { codes: [301], ...actor, ...why }); // §9.1 banned
      else if (role === "none") await this.removeOccupant(room, o, { codes: [321], ...actor, ...why }); // §9.4 not a member
      else {
        o.role = role;
        const ghosts = new Set<string>();
        await this.broadcastPresence(room, o, { ...why, selfCodes: [110] }, ghosts);
        await this.removeGhosts(room, ghosts);
      }
    }
  }

  // ---- registration (XEP-0045 §7.10) ----

  private registerGet(room: Room, a: Actor): Element {
    if (a.aff === "outcast") throw new StanzaError("forbidden");
    const nick = room.affiliations.get(a.bare)?.nick;
    if (nick) return x("query", { xmlns: NS_REGISTER }, x("registered"), x("username", null, nick)); // §7.10 already registered
    if (room.config.membersOnly && a.aff === "none") throw new StanzaError("registration-required", "Ask an admin for membership");
    return x("query", { xmlns: NS_REGISTER }, x("instructions", null, "Reserve a nickname in this room"), registerForm());
  }

  private async registerSet(room: Room, a: Actor, q: Element): Promise<void> {
    if (a.aff === "outcast") throw new StanzaError("forbidden");
    if (q.getChild("remove")) {
      // XEP-0077 §3.2 on a room: cancel the registration (the membership and the nick)
      if (a.aff === "member") room.setAffiliation(a.bare, "none");
      else {
        const rec = room.affiliations.get(a.bare);
        if (rec) delete rec.nick;
      }
      await this.saveAffiliation(room, a.bare);
      return;
    }
    if (room.config.membersOnly && a.aff === "none") throw new StanzaError("registration-required", "Ask an admin for membership");
    const form = q.getChild("x", NS.DATA);
    if (!form || form.attrs.type !== "submit") throw new StanzaError("bad-request", "Submit the registration form");
    const nick = parseRegisterSubmit(form);
    if (!tryParseJid(`${room.jid}/${nick}`)) throw new StanzaError("jid-malformed", "Not a valid nickname");
    const owner = room.nickOwner(nick);
    const holder = room.occupants.get(nick);
    if ((owner !== undefined && owner !== a.bare) || (holder && holder.bare !== a.bare)) throw new StanzaError("conflict", "That nickname is taken"); // §7.10
    const rec = room.affiliations.get(a.bare);
    if (rec) rec.nick = nick;
    else room.affiliations.set(a.bare, { affiliation: "member", nick });
    await this.saveAffiliation(room, a.bare);
    for (const o of room.byBare(a.bare)) {
      if (o.role === "visitor" || room.affiliationOf(a.bare) === "member") {
        o.role = roleAfterAffiliation(room.affiliationOf(a.bare), o.role, room.config.moderated, room.config.membersOnly);
        const ghosts = new Set<string>();
        await this.broadcastPresence(room, o, { selfCodes: [110] }, ghosts);
        await this.removeGhosts(room, ghosts);
      }
    }
  }

  // ---- archive (XEP-0313 §6.1.2 on the room) ----

  private async mamQuery(ev: StanzaEvent, room: Room, a: Actor, p: Element): Promise<void> {
    const q = this.archiveQueries();
    if (!q || !this.archived(room)) throw new StanzaError("service-unavailable", "This room keeps no archive");
    // The archive is for those who may be in the room: members of a members-only room, or anyone not banned
    if (entryRefusal(a.aff, room.config.membersOnly) !== undefined) throw new StanzaError("forbidden", "You may not read this room's archive");
    const plan = q.parse(p, this.maxPageSize);
    // PRIVACY: the archive keeps senders by real JID; filtering by it would reveal them
    if (plan.with !== undefined) throw new StanzaError("feature-not-implemented", "Filtering a room archive by sender is not supported");
    const page = await q.run(this.stores.archive, room.jid, plan as never);
    const read = xmlReader();
    const showJids = seesRealJids(a.role, room.config);
    const items = plan.flip ? [...page.items].reverse() : page.items;
    for (const item of items) {
      const original = read(item.value.xml);
      if (!original) continue;
      if (showJids) original.append(x("x", { xmlns: NS_MUC_USER }, x("item", { jid: item.value.jid })));
      // XEP-0313 §4.2 results come from the archive (the room), forwarded with their time
      this.core.deliverTo(
        ev.from,
        x(
          "message",
          { xmlns: NS.CLIENT, from: room.jid, to: ev.from.toString() },
          x(
            "result",
            { xmlns: NS_MAM, queryid: plan.queryid, id: item.id },
            x("forwarded", { xmlns: "urn:xmpp:forward:0" }, x("delay", { xmlns: NS.DELAY, stamp: q.formatDateTime(item.when) }), original),
          ),
        ),
      );
    }
    await this.reply(ev, q.fin(page as never));
  }

  // ---- accounts ----

  /**
   * An account is being deleted: its affiliations and reserved nicks go from every room, stored or
   * loaded, and (muc.deleteMessagesWithAccount) the messages it sent from archives and histories.
   */
  async accountDeleted(bare: string): Promise<void> {
    const stored = new Set<string>();
    for (const domain of this.domains) for (const r of await this.stores.rooms.owners("@" + domain)) stored.add(r);
    for (const jid of new Set([...stored, ...this.rooms.keys()])) await this.inRoom(jid, () => this.forgetAccount(jid, bare));
  }

  private async forgetAccount(jid: string, bare: string): Promise<void> {
    const room = this.rooms.get(jid);
    if (room) {
      for (const o of room.byBare(bare)) await this.removeOccupant(room, o, { codes: [321] });
      room.affiliations.delete(bare);
      if (this.cfg.deleteMessagesWithAccount) room.recent = room.recent.filter((m: RecentMessage) => m.bare !== bare);
    }
    await this.stores.affiliations.set(jid, bare, undefined);
    if (this.cfg.deleteMessagesWithAccount) await this.stores.archive.delete(jid, { with: bare });
  }

  /**
   * The server is stopping: every occupant is told it leaves because the service shuts down
   * (XEP-0045 status 332). Persistent rooms stay stored; temporary rooms were never stored.
   */
  async shutdown(): Promise<void> {
    for (const room of this.rooms.values()) {
      for (const o of room.occupants.values()) {
        const p = occupantPresence(room, o, o.role, { unavailable: true, codes: [110, 332] });
        for (const full of o.sessions.keys()) await this.sendTo(full, p.clone());
      }
      room.occupants.clear();
    }
  }

  /** The service domains (one per host), whose stored rooms are loaded. */
  private domains: string[] = [];

  async loadAll(domains: string[]): Promise<void> {
    this.domains = domains;
    for (const d of domains) await this.load(d);
  }

  /** Room configuration helper for tests. */
  configOf(room: string): RoomConfig | undefined {
    return this.rooms.get(room)?.config;
  }
}
