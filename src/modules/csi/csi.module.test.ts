// Pure parts of client state indication: which stanzas an inactive session holds, flushes before
// or lets through (XEP-0352 §3.2), and how held presences are kept (newest per sender, in order).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x, type Element } from "../../xml/element.js";
import { classify, hold, type CsiState } from "./csi.module.js";

const pres = (from: string, attrs: Record<string, string> = {}, ...children: Element[]) =>
  x("presence", { xmlns: "jabber:client", from, ...attrs }, ...children);

describe("csi classification", () => {
  const cases: [string, Element, ReturnType<typeof classify>][] = [
    ["available presence", pres("b@x/r"), "hold"],
    ["unavailable presence", pres("b@x/r", { type: "unavailable" }), "hold"],
    ["subscription request", pres("b@x", { type: "subscribe" }), "flush"],
    ["subscription approval", pres("b@x", { type: "subscribed" }), "flush"],
    ["presence error", pres("b@x", { type: "error" }), "flush"],
    ["chat message with body", x("message", { type: "chat" }, x("body", null, "hi")), "flush"],
    ["chat state only", x("message", { type: "chat" }, x("composing", { xmlns: "http://jabber.org/protocol/chatstates" })), "deliver"],
    ["headline with body", x("message", { type: "headline" }, x("body", null, "news")), "deliver"],
    ["received carbon of a body", x("message", { type: "chat" }, x("received", { xmlns: "urn:xmpp:carbons:2" }, x("forwarded", { xmlns: "urn:xmpp:forward:0" }, x("message", { xmlns: "jabber:client" }, x("body", null, "hi"))))), "flush"],
    ["received carbon of a receipt", x("message", { type: "chat" }, x("received", { xmlns: "urn:xmpp:carbons:2" }, x("forwarded", { xmlns: "urn:xmpp:forward:0" }, x("message", { xmlns: "jabber:client" }, x("received", { xmlns: "urn:xmpp:receipts" }))))), "deliver"],
    ["sent carbon", x("message", { type: "chat" }, x("sent", { xmlns: "urn:xmpp:carbons:2" })), "flush"],
    ["iq", x("iq", { type: "set", id: "1" }), "flush"],
  ];
  for (const [name, stanza, expected] of cases) it(`${name}: ${expected}`, () => assert.equal(classify(stanza), expected));
});

describe("held presences", () => {
  it("keeps the newest per sender full JID, ordered by its arrival, stamped with a delay", () => {
    const st: CsiState = { inactive: true, held: new Map() };
    const t = new Date("2024-01-02T03:04:05.000Z");
    hold(st, pres("bob@x/1", {}, x("show", null, "away")), "x", t);
    hold(st, pres("carol@x/1"), "x", t);
    hold(st, pres("bob@x/2"), "x", t);
    hold(st, pres("bob@x/1", { type: "unavailable" }), "x", t);
    assert.deepEqual([...st.held.keys()], ["carol@x/1", "bob@x/2", "bob@x/1"]);
    const last = st.held.get("bob@x/1")!;
    assert.equal(last.attrs.type, "unavailable", "a later unavailable replaces the available");
    const delay = last.getChild("delay", "urn:xmpp:delay");
    assert.equal(delay?.attrs.stamp, "2024-01-02T03:04:05.000Z");
    assert.equal(delay?.attrs.from, "x");
  });

  it("does not touch the stanza other recipients get, nor add a second delay", () => {
    const st: CsiState = { inactive: true, held: new Map() };
    const original = pres("bob@x/1");
    hold(st, original, "x");
    assert.equal(original.getChild("delay", "urn:xmpp:delay"), undefined);
    const delayed = pres("bob@x/2", {}, x("delay", { xmlns: "urn:xmpp:delay", from: "bob@x/2", stamp: "2020-01-01T00:00:00Z" }));
    hold(st, delayed, "x");
    assert.equal(st.held.get("bob@x/2")!.getChildren("delay", "urn:xmpp:delay").length, 1);
    assert.equal(st.held.get("bob@x/2")!.getChild("delay")!.attrs.from, "bob@x/2");
  });
});
