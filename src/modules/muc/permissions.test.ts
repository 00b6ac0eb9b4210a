// The role and affiliation tables of XEP-0045 §5.1 and §5.2, and the moderation rules of §8–§10.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
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

describe("XEP-0045 §5.2 affiliations", () => {
  it("gives the default role on entry (§5.1.2)", () => {
    const table: [Affiliation, boolean, Role][] = [
      ["owner", false, "moderator"],
      ["admin", true, "moderator"],
      ["member", true, "participant"],
      ["none", false, "participant"],
      ["none", true, "visitor"],
      ["outcast", false, "none"],
    ];
    for (const [aff, moderated, role] of table) assert.equal(defaultRole(aff, moderated), role, `${aff} moderated=${moderated}`);
  });

  it("refuses entry to outcasts, and to non-members of members-only rooms (§7.2.6, §7.2.7)", () => {
    const table: [Affiliation, boolean, string | undefined][] = [
      ["outcast", false, "forbidden"],
      ["outcast", true, "forbidden"],
      ["none", false, undefined],
      ["none", true, "registration-required"],
      ["member", true, undefined],
      ["admin", true, undefined],
      ["owner", true, undefined],
    ];
    for (const [aff, mo, want] of table) assert.equal(entryRefusal(aff, mo), want, `${aff} membersOnly=${mo}`);
  });

  it("lets owners change any affiliation, admins only below admin (§9, §10)", () => {
    const table: [Affiliation, Affiliation, Affiliation, string | undefined][] = [
      ["owner", "admin", "none", undefined],
      ["owner", "none", "owner", undefined],
      ["admin", "none", "member", undefined],
      ["admin", "member", "outcast", undefined],
      ["admin", "admin", "none", "not-allowed"],
      ["admin", "owner", "outcast", "not-allowed"],
      ["admin", "none", "admin", "forbidden"],
      ["member", "none", "member", "forbidden"],
      ["none", "none", "outcast", "forbidden"],
    ];
    for (const [actor, current, next, want] of table) assert.equal(affiliationChangeRefusal(actor, current, next), want, `${actor}: ${current} -> ${next}`);
  });

  it("shows affiliation lists to admins, and member lists to members of members-only or non-anonymous rooms", () => {
    const open = { membersOnly: false, whois: "moderators" as const };
    const omemo = { membersOnly: true, whois: "anyone" as const };
    assert.equal(listRefusal({ aff: "admin", role: "moderator" }, "outcast", open), undefined);
    assert.equal(listRefusal({ aff: "member", role: "participant" }, "outcast", omemo), "forbidden");
    assert.equal(listRefusal({ aff: "member", role: "participant" }, "member", open), "forbidden");
    assert.equal(listRefusal({ aff: "member", role: "participant" }, "owner", omemo), undefined);
    assert.equal(listRefusal({ aff: "none", role: "participant" }, "member", omemo), "forbidden");
    assert.equal(listRefusal({ aff: "none", role: "moderator" }, "participant", open), undefined);
    assert.equal(listRefusal({ aff: "member", role: "participant" }, "moderator", open), "forbidden");
  });

  it("adjusts a present occupant's role when its affiliation changes (§9.4 removal from members-only rooms)", () => {
    assert.equal(roleAfterAffiliation("admin", "participant", false, false), "moderator");
    assert.equal(roleAfterAffiliation("member", "visitor", true, false), "participant");
    assert.equal(roleAfterAffiliation("none", "participant", true, false), "visitor");
    assert.equal(roleAfterAffiliation("none", "participant", false, true), "none");
    assert.equal(roleAfterAffiliation("outcast", "moderator", false, false), "none");
  });
});

describe("XEP-0045 §5.1 roles", () => {
  it("lets participants and moderators speak, not visitors", () => {
    assert.deepEqual((["moderator", "participant", "visitor", "none"] as Role[]).map(maySendGroupchat), [true, true, false, false]);
  });

  it("lets moderators change the subject, participants only when allowed", () => {
    assert.equal(mayChangeSubject("moderator", { changeSubject: false }), true);
    assert.equal(mayChangeSubject("participant", { changeSubject: false }), false);
    assert.equal(mayChangeSubject("participant", { changeSubject: true }), true);
    assert.equal(mayChangeSubject("visitor", { changeSubject: true }), false);
  });

  it("allows invitations by moderators and admins, by others only when the room allows them", () => {
    const closed = { allowInvites: false, membersOnly: true };
    assert.equal(mayInvite("moderator", "none", closed), true);
    assert.equal(mayInvite("participant", "admin", closed), true);
    assert.equal(mayInvite("participant", "member", closed), false);
    assert.equal(mayInvite("participant", "member", { ...closed, allowInvites: true }), true);
    assert.equal(mayInvite("none", "none", { ...closed, allowInvites: true }), false);
  });

  it("follows muc#roomconfig_allowpm for private messages", () => {
    const t: [string, Role, boolean][] = [
      ["anyone", "visitor", true],
      ["participants", "visitor", false],
      ["participants", "participant", true],
      ["moderators", "participant", false],
      ["moderators", "moderator", true],
      ["none", "moderator", false],
    ];
    for (const [allowPm, role, want] of t) assert.equal(maySendPrivate(role, { allowPm: allowPm as "anyone" }), want, `${allowPm} ${role}`);
  });

  it("shows real JIDs to moderators of semi-anonymous rooms and to all in non-anonymous ones (§4.2)", () => {
    assert.equal(seesRealJids("participant", { whois: "moderators" }), false);
    assert.equal(seesRealJids("moderator", { whois: "moderators" }), true);
    assert.equal(seesRealJids("visitor", { whois: "anyone" }), true);
  });

  it("checks kicks, voice and moderator changes against affiliations (§8.2, §8.4, §9.6, §9.7)", () => {
    type R = { aff: Affiliation; role: Role };
    const mod = (aff: Affiliation): R => ({ aff, role: "moderator" });
    const occ = (aff: Affiliation, role: Role = "participant"): R => ({ aff, role });
    const table: [R, R, Role, string | undefined][] = [
      [occ("member"), occ("none"), "none", "forbidden"], // only moderators kick
      [mod("none"), occ("member"), "none", undefined],
      [mod("none"), mod("admin"), "none", "not-allowed"], // §8.2 participant-moderator vs admin
      [mod("admin"), mod("owner"), "none", "not-allowed"], // §8.2 admin vs owner
      [mod("admin"), mod("admin"), "none", "not-allowed"],
      [mod("owner"), mod("admin"), "none", undefined],
      [mod("none"), occ("none"), "visitor", undefined], // §8.4 revoke voice
      [mod("none"), occ("member"), "visitor", "not-allowed"], // at or above the moderator's affiliation
      [mod("admin"), occ("member"), "visitor", undefined],
      [mod("none"), occ("none", "visitor"), "participant", undefined], // §8.3 grant voice
      [mod("member"), occ("none"), "moderator", "forbidden"], // §9.6 admins only
      [mod("admin"), occ("member"), "moderator", undefined],
      [mod("admin"), mod("owner"), "participant", "not-allowed"], // §9.7 not from an owner
      [mod("owner"), mod("none"), "participant", undefined],
    ];
    for (const [actor, target, role, want] of table) {
      assert.equal(roleChangeRefusal(actor, target, role), want, `${actor.aff}/${actor.role} sets ${target.aff}/${target.role} to ${role}`);
    }
  });
});
