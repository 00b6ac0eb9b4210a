// Upload slot tokens (XEP-0363 §4): HMAC over the whole slot, single use, expiry.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { newSlotId, SLOT_ID, SlotTable, type Slot } from "./slots.js";

const NOW = 1_700_000_000_000;

function slot(over: Partial<Slot> = {}): Slot {
  return { id: newSlotId(), owner: "a@example.com", filename: "f.jpg", size: 10, contentType: "image/jpeg", expires: NOW + 300_000, ...over };
}

describe("SlotTable", () => {
  it("makes unguessable ids of the expected shape", () => {
    const a = newSlotId();
    assert.match(a, SLOT_ID);
    assert.notEqual(a, newSlotId());
  });

  it("accepts the right token once, then refuses it", () => {
    const t = new SlotTable();
    const s = slot();
    const token = t.add(s);
    assert.deepEqual(t.take(s.id, token, s.expires, NOW), s);
    assert.equal(t.take(s.id, token, s.expires, NOW), "forbidden");
  });

  it("refuses a wrong token and keeps the slot for the right one", () => {
    const t = new SlotTable();
    const s = slot();
    const token = t.add(s);
    assert.equal(t.take(s.id, token.slice(0, -2) + "AA", s.expires, NOW), "forbidden");
    assert.equal(t.take(s.id, "", s.expires, NOW), "forbidden");
    assert.equal(typeof t.take(s.id, token, s.expires, NOW), "object");
  });

  it("binds the token to every field and to the key", () => {
    const t = new SlotTable();
    const s = slot();
    const token = t.token(s);
    for (const changed of [{ size: 11 }, { owner: "b@example.com" }, { filename: "g.jpg" }, { contentType: "" }, { expires: s.expires + 1 }]) {
      assert.notEqual(t.token({ ...s, ...changed }), token, JSON.stringify(changed));
    }
    assert.notEqual(new SlotTable().token(s), token);
    assert.equal(new SlotTable(Buffer.alloc(32, 1)).token(s), new SlotTable(Buffer.alloc(32, 1)).token(s));
  });

  it("reports an expired slot as expired, before and after it is forgotten", () => {
    const t = new SlotTable();
    const s = slot({ expires: NOW - 1 });
    const token = t.add(s);
    assert.equal(t.take(s.id, token, s.expires, NOW), "expired");
    assert.equal(t.take(s.id, token, s.expires, NOW), "expired");
    const u = slot({ expires: NOW - 1 });
    t.add(u);
    t.prune(NOW);
    assert.equal(t.take(u.id, "x", u.expires, NOW), "expired");
    assert.equal(t.take(newSlotId(), "x", NOW + 1000, NOW), "forbidden");
  });

  it("lists pending slots per owner and drops an owner's slots", () => {
    const t = new SlotTable();
    t.add(slot());
    t.add(slot({ expires: NOW - 1 }));
    t.add(slot({ owner: "b@example.com" }));
    assert.equal(t.pending("a@example.com", NOW).length, 1);
    t.dropOwner("a@example.com");
    assert.equal(t.pending("a@example.com", NOW).length, 0);
    assert.equal(t.pending("b@example.com", NOW).length, 1);
  });
});
