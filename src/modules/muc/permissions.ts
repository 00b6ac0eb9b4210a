// Roles and affiliations of a multi-user chat (XEP-0045 §5.1 roles, §5.2 affiliations): who may
// do what, as pure functions of the actor, the target and the room's settings.

/** XEP-0045 §5.2: long-lived standing in a room. */
export type Affiliation = "owner" | "admin" | "member" | "none" | "outcast";
/** XEP-0045 §5.1: standing while present. */
export type Role = "moderator" | "participant" | "visitor" | "none";

export const AFFILIATIONS: readonly Affiliation[] = ["owner", "admin", "member", "none", "outcast"];
export const ROLES: readonly Role[] = ["moderator", "participant", "visitor", "none"];

const AFF_RANK: Record<Affiliation, number> = { outcast: 0, none: 1, member: 2, admin: 3, owner: 4 };
const ROLE_RANK: Record<Role, number> = { none: 0, visitor: 1, participant: 2, moderator: 3 };

export function affRank(a: Affiliation): number {
  return AFF_RANK[a];
}
export function roleRank(r: Role): number {
  return ROLE_RANK[r];
}

/** The settings that permissions depend on. */
export interface PermissionSettings {
  moderated: boolean;
  membersOnly: boolean;
  /** "anyone": non-anonymous room, real JIDs visible to all occupants (XEP-0045 §4.2). */
  whois: "moderators" | "anyone";
  changeSubject: boolean;
  allowInvites: boolean;
  allowPm: "anyone" | "participants" | "moderators" | "none";
}

/** XEP-0045 §5.1.2: the role an occupant gets on entering. */
export function defaultRole(aff: Affiliation, moderated: boolean): Role {
  if (aff === "owner" || aff === "admin") return "moderator";
  if (aff === "member") return "participant";
  if (aff === "outcast") return "none";
  return moderated ? "visitor" : "participant";
}

/** Why an entry is refused (XEP-0045 §7.2.6–§7.2.9), or undefined when it may enter. */
export function entryRefusal(aff: Affiliation, membersOnly: boolean): "forbidden" | "registration-required" | undefined {
  if (aff === "outcast") return "forbidden"; // §7.2.7 banned
  if (membersOnly && affRank(aff) < AFF_RANK.member) return "registration-required"; // §7.2.6
  return undefined;
}

/** XEP-0045 §5.1.1: sending a message to all occupants (visitors cannot, in a moderated room). */
export function maySendGroupchat(role: Role): boolean {
  return role === "participant" || role === "moderator";
}

/** XEP-0045 §5.1.1 / §8.1: modifying the subject. */
export function mayChangeSubject(role: Role, s: Pick<PermissionSettings, "changeSubject">): boolean {
  if (role === "moderator") return true;
  return role === "participant" && s.changeSubject;
}

/** XEP-0045 §5.1.1 / §7.8.2: inviting others (moderators always; others if the room allows it). */
export function mayInvite(role: Role, aff: Affiliation, s: Pick<PermissionSettings, "allowInvites" | "membersOnly">): boolean {
  if (role === "moderator" || affRank(aff) >= AFF_RANK.admin) return true;
  if (role === "none") return false;
  return s.allowInvites;
}

/** XEP-0045 §5.1.1 / §7.5: sending a private message (muc#roomconfig_allowpm). */
export function maySendPrivate(role: Role, s: Pick<PermissionSettings, "allowPm">): boolean {
  switch (s.allowPm) {
    case "anyone":
      return role !== "none";
    case "participants":
      return roleRank(role) >= ROLE_RANK.participant;
    case "moderators":
      return role === "moderator";
    case "none":
      return false;
  }
}

/** XEP-0045 §4.2 / §7.2.3: whether `viewer` sees occupants' real JIDs. */
export function seesRealJids(viewerRole: Role, s: Pick<PermissionSettings, "whois">): boolean {
  return s.whois === "anyone" || viewerRole === "moderator";
}

/** A refusal condition, or undefined when allowed. */
export type Refusal = "forbidden" | "not-allowed" | "conflict" | undefined;

/**
 * Changing an occupant's role (XEP-0045 §8.2 kick, §8.3 grant voice, §8.4 revoke voice, §9.6 grant
 * moderator, §9.7 revoke moderator).
 */
export function roleChangeRefusal(
  actor: { aff: Affiliation; role: Role },
  target: { aff: Affiliation; role: Role },
  newRole: Role,
): Refusal {
  if (actor.role !== "moderator") return "forbidden"; // §8: moderators only
  switch (newRole) {
    case "none":
      // §8.2: a moderator cannot kick someone with a higher affiliation; an admin cannot kick an
      // owner (nor, as ejabberd and Prosody read it, another admin)
      if (affRank(target.aff) >= AFF_RANK.admin && affRank(actor.aff) <= affRank(target.aff) && actor.aff !== "owner") return "not-allowed";
      return undefined;
    case "visitor":
      // §8.4: not from a user whose affiliation is at or above the moderator's
      if (affRank(target.aff) >= affRank(actor.aff) && affRank(target.aff) > AFF_RANK.none) return "not-allowed";
      if (target.role === "moderator" && affRank(actor.aff) < AFF_RANK.admin) return "not-allowed";
      return undefined;
    case "participant":
      // §9.7: revoking moderator status is for admins and owners, never from an admin or owner
      if (target.role === "moderator") {
        if (affRank(actor.aff) < AFF_RANK.admin) return "forbidden";
        if (affRank(target.aff) >= AFF_RANK.admin) return "not-allowed";
      }
      return undefined;
    case "moderator":
      // §9.6: granting moderator status is for admins and owners
      if (affRank(actor.aff) < AFF_RANK.admin) return "forbidden";
      return undefined;
  }
}

/**
 * Changing an affiliation (XEP-0045 §9.1 ban, §9.3 member list, §10.6/§10.8 owner and admin
 * lists): owners may change any; admins only between none, member and outcast, and not of admins
 * or owners (§9.1: not-allowed).
 */
export function affiliationChangeRefusal(actor: Affiliation, targetCurrent: Affiliation, newAff: Affiliation): Refusal {
  if (actor === "owner") return undefined;
  if (actor !== "admin") return "forbidden";
  if (affRank(targetCurrent) >= AFF_RANK.admin) return "not-allowed";
  if (affRank(newAff) >= AFF_RANK.admin) return "forbidden";
  return undefined;
}

/**
 * Retrieving an affiliation or role list (XEP-0045 §9.2 outcasts, §9.5 members, §10.5 owners,
 * §10.7 admins, §8.5 voice list, §9.8 moderators). Members may read the member, admin and owner
 * lists of members-only or non-anonymous rooms: OMEMO clients need them to encrypt to everyone.
 */
export function listRefusal(actor: { aff: Affiliation; role: Role }, list: Affiliation | Role, s: Pick<PermissionSettings, "membersOnly" | "whois">): Refusal {
  if (list === "outcast") return affRank(actor.aff) >= AFF_RANK.admin ? undefined : "forbidden";
  if (list === "member" || list === "admin" || list === "owner") {
    if (affRank(actor.aff) >= AFF_RANK.admin) return undefined;
    if (actor.aff === "member" && (s.membersOnly || s.whois === "anyone")) return undefined;
    return "forbidden";
  }
  // role lists
  return actor.role === "moderator" ? undefined : "forbidden";
}

/** The role an occupant gets when its affiliation changes while present (XEP-0045 §9.3, §9.4, §10.6). */
export function roleAfterAffiliation(newAff: Affiliation, currentRole: Role, moderated: boolean, membersOnly: boolean): Role {
  if (newAff === "outcast") return "none";
  if (newAff === "owner" || newAff === "admin") return "moderator";
  if (newAff === "member") return "participant";
  // none: §9.4 in a members-only room the occupant is removed (status 321)
  if (membersOnly) return "none";
  return currentRole === "none" ? "none" : defaultRole("none", moderated);
}
