// Room state: occupant ids (XEP-0421 §3) and reserved nicknames (XEP-0045 §7.10).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Room } from "./room.js";
import { defaultRoomConfig } from "./forms.js";

describe("Room", () => {
  it("derives occupant ids from the room secret and the real bare JID", () => {
    const r = new Room("a@muc.example.com", defaultRoomConfig(10));
    const same = new Room("a@muc.example.com", defaultRoomConfig(10), { ...r.record() });
    const other = new Room("b@muc.example.com", defaultRoomConfig(10), { ...r.record() });
    assert.equal(r.occupantId("x@example.com"), same.occupantId("x@example.com"), "stable across restarts");
    assert.notEqual(r.occupantId("x@example.com"), r.occupantId("y@example.com"));
    assert.notEqual(r.occupantId("x@example.com"), other.occupantId("x@example.com"));
    assert.notEqual(r.occupantId("x@example.com"), new Room("a@muc.example.com", defaultRoomConfig(10)).occupantId("x@example.com"));
  });

  it("drops a reserved nickname with the membership", () => {
    const r = new Room("a@muc.example.com", defaultRoomConfig(10));
    r.affiliations.set("x@example.com", { affiliation: "member", nick: "X" });
    assert.equal(r.nickOwner("X"), "x@example.com");
    r.setAffiliation("x@example.com", "admin");
    assert.equal(r.nickOwner("X"), "x@example.com", "kept when promoted");
    r.setAffiliation("x@example.com", "outcast");
    assert.equal(r.nickOwner("X"), undefined);
    r.setAffiliation("x@example.com", "none");
    assert.equal(r.affiliations.size, 0);
  });
});
