// Occupant presence as each viewer sees it (XEP-0045 §7.2.3, §7.2.4) and what rooms strip from clients.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { Room, type Occupant } from "./room.js";
import { defaultRoomConfig } from "./forms.js";
import { NS_MUC_USER, NS_OCCUPANT_ID, NS_SID, cleanPresence, isContent, occupantPresence, stripOwn } from "./stanzas.js";

function roomWithOccupant(whois: "moderators" | "anyone"): { room: Room; o: Occupant } {
  const room = new Room("r@muc.example.com", { ...defaultRoomConfig(10), whois });
  const o: Occupant = { nick: "Juliet", bare: "juliet@example.com", sessions: new Map([["juliet@example.com/balcony", x("presence", null, x("show", null, "away"))]]), role: "participant", sent: [] };
  room.occupants.set(o.nick, o);
  return { room, o };
}

describe("occupant presence", () => {
  it("shows the real JID to moderators only in semi-anonymous rooms, to everyone in non-anonymous ones", () => {
    const semi = roomWithOccupant("moderators");
    const item = (role: "participant" | "moderator", r = semi) => occupantPresence(r.room, r.o, role).getChild("x", NS_MUC_USER)!.getChild("item")!;
    assert.equal(item("participant").attrs.jid, undefined);
    assert.equal(item("moderator").attrs.jid, "juliet@example.com/balcony");
    assert.equal(item("participant", roomWithOccupant("anyone")).attrs.jid, "juliet@example.com/balcony");
  });

  it("carries the occupant's own presence, its occupant id, status codes and an unavailable role of none", () => {
    const { room, o } = roomWithOccupant("moderators");
    const p = occupantPresence(room, o, "participant", { unavailable: true, codes: [110, 307], actor: "Mod", reason: "spam" });
    assert.equal(p.attrs.from, "r@muc.example.com/Juliet");
    assert.equal(p.attrs.type, "unavailable");
    assert.equal(p.getChildText("show"), "away");
    const ux = p.getChild("x", NS_MUC_USER)!;
    assert.deepEqual(ux.getChildren("status").map((s) => s.attrs.code), ["110", "307"]);
    assert.equal(ux.getChild("item")!.attrs.role, "none");
    assert.equal(ux.getChild("item")!.getChild("actor")!.attrs.nick, "Mod");
    assert.equal(p.getChild("occupant-id", NS_OCCUPANT_ID)!.attrs.id, room.occupantId("juliet@example.com"));
  });
});

describe("what a room keeps out", () => {
  it("removes forged occupant ids and stanza ids of the room, keeps others", () => {
    const m = x(
      "message",
      null,
      x("body", null, "hi"),
      x("occupant-id", { xmlns: NS_OCCUPANT_ID, id: "forged" }),
      x("stanza-id", { xmlns: NS_SID, by: "r@muc.example.com", id: "forged" }),
      x("stanza-id", { xmlns: NS_SID, by: "juliet@example.com", id: "kept" }),
    );
    stripOwn(m, "r@muc.example.com");
    assert.deepEqual(m.elements().map((e) => e.attrs.id ?? e.name), ["body", "kept"]);
  });

  it("drops the join and muc#user payloads a client sent in its presence", () => {
    const p = cleanPresence(x("presence", { to: "r@muc.example.com/J", id: "1" }, x("x", { xmlns: "http://jabber.org/protocol/muc" }), x("status", null, "hi")));
    assert.deepEqual(p.elements().map((e) => e.name), ["status"]);
    assert.equal(p.attrs.to, undefined);
  });

  it("keeps bodies and OMEMO payloads in history, not chat states or no-store messages", () => {
    const ns = "jabber:client";
    assert.equal(isContent(x("message", { xmlns: ns }, x("body", null, "hi"))), true);
    assert.equal(isContent(x("message", { xmlns: ns }, x("encrypted", { xmlns: "eu.siacs.conversations.axolotl" }))), true);
    assert.equal(isContent(x("message", { xmlns: ns }, x("active", { xmlns: "http://jabber.org/protocol/chatstates" }))), false);
    assert.equal(isContent(x("message", { xmlns: ns }, x("body", null, "hi"), x("no-store", { xmlns: "urn:xmpp:hints" }))), false);
  });
});
