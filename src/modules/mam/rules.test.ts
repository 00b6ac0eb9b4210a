// Tests of the archiving rules (XEP-0313 §6.1.1, XEP-0334 hints) and XEP-0359 stanza-id handling.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { jid } from "../../jid/jid.js";
import { NS_HINTS, NS_OMEMO_LEGACY, NS_SID, addStanzaId, isArchivable, stripStanzaIds } from "./rules.js";

const C = "jabber:client";
const msg = (attrs: Record<string, string>, ...children: ReturnType<typeof x>[]) => x("message", { xmlns: C, ...attrs }, ...children);
const body = () => x("body", null, "hi");

describe("isArchivable (XEP-0313 §6.1.1, XEP-0334)", () => {
  it("keeps chat and normal messages with a body", () => {
    assert.equal(isArchivable(msg({ type: "chat" }, body())), true);
    assert.equal(isArchivable(msg({}, body())), true);
    assert.equal(isArchivable(msg({ type: "normal" }, body())), true);
    assert.equal(isArchivable(msg({ type: "bogus" }, body())), true, "unknown types read as normal");
  });
  it("leaves out error, groupchat and headline", () => {
    for (const type of ["error", "groupchat", "headline"]) assert.equal(isArchivable(msg({ type }, body())), false, type);
  });
  it("leaves out messages without content (chat states, receipts)", () => {
    assert.equal(isArchivable(msg({ type: "chat" }, x("active", { xmlns: "http://jabber.org/protocol/chatstates" }))), false);
    assert.equal(isArchivable(msg({ type: "chat" }, x("body", { xmlns: "urn:example:other" }, "not a body"))), false);
  });
  it("keeps OMEMO payloads without a body, and <store/> hints", () => {
    assert.equal(isArchivable(msg({ type: "chat" }, x("encrypted", { xmlns: NS_OMEMO_LEGACY }))), true);
    assert.equal(isArchivable(msg({ type: "chat" }, x("store", { xmlns: NS_HINTS }))), true);
  });
  it("honours no-store and no-permanent-store", () => {
    assert.equal(isArchivable(msg({ type: "chat" }, body(), x("no-store", { xmlns: NS_HINTS }))), false);
    assert.equal(isArchivable(msg({ type: "chat" }, body(), x("no-permanent-store", { xmlns: NS_HINTS }))), false);
    assert.equal(isArchivable(msg({ type: "chat" }, x("store", { xmlns: NS_HINTS }), x("no-store", { xmlns: NS_HINTS }))), false);
  });
  it("is only about messages", () => {
    assert.equal(isArchivable(x("presence", { xmlns: C }, x("status", null, "hi"))), false);
  });
});

describe("stanza ids (XEP-0359 §4)", () => {
  it("removes only forged ids of the archive, then adds its own", () => {
    const m = msg(
      { type: "chat" },
      body(),
      x("stanza-id", { xmlns: NS_SID, by: "juliet@example.com", id: "forged" }),
      x("stanza-id", { xmlns: NS_SID, by: "room@muc.example.com", id: "kept" }),
    );
    stripStanzaIds(m, "juliet@example.com");
    addStanzaId(m, jid("juliet", "example.com"), "real");
    const ids = m.getChildren("stanza-id", NS_SID).map((e) => `${e.attrs.by}=${e.attrs.id}`);
    assert.deepEqual(ids, ["room@muc.example.com=kept", "juliet@example.com=real"]);
  });
});
