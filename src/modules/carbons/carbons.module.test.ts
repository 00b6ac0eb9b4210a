// Pure parts of message carbons: eligibility (XEP-0280 §6), the copy's shape (§7, §8) and who gets
// the original under RFC 6121 §8.5 (so that copies skip them).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Element, x } from "../../xml/element.js";
import { jid } from "../../jid/jid.js";
import type { Core } from "../../core/core.js";
import type { Session } from "../../core/session.js";
import { NS_CARBONS, NS_FORWARD, NS_HINTS, isEligible, originalRecipients, wrapCarbon } from "./carbons.module.js";

const msg = (attrs: Record<string, string>, ...children: Element[]) => x("message", { xmlns: "jabber:client", ...attrs }, ...children);
const body = () => x("body", null, "hi");

describe("carbons eligibility (XEP-0280 §6)", () => {
  const cases: [string, Element, boolean][] = [
    ["chat without body", msg({ type: "chat" }), true],
    ["normal with body", msg({}, body()), true],
    ["unknown type with body counts as normal", msg({ type: "weird" }, body()), true],
    ["normal without body", msg({}), false],
    ["normal with a receipt", msg({}, x("received", { xmlns: "urn:xmpp:receipts", id: "1" })), true],
    ["normal with a chat marker", msg({}, x("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: "1" })), true],
    ["normal with a chat state", msg({}, x("composing", { xmlns: "http://jabber.org/protocol/chatstates" })), true],
    ["groupchat with body", msg({ type: "groupchat" }, body()), false],
    ["headline with body", msg({ type: "headline" }, body()), false],
    ["chat with <private/>", msg({ type: "chat" }, body(), x("private", { xmlns: NS_CARBONS })), false],
    ["chat with <no-copy/>", msg({ type: "chat" }, body(), x("no-copy", { xmlns: NS_HINTS })), false],
    ["a carbon itself", msg({ type: "chat" }, x("received", { xmlns: NS_CARBONS })), false],
    ["error echoing a body", msg({ type: "error" }, body(), x("error", { type: "cancel" })), true],
    ["bare error", msg({ type: "error" }, x("error", { type: "cancel" })), false],
    ["body in a foreign namespace", msg({}, x("body", { xmlns: "urn:example" }, "x")), false],
    ["presence", x("presence", { xmlns: "jabber:client" }), false],
  ];
  for (const [name, stanza, expected] of cases) {
    it(`${name}: ${expected ? "copied" : "not copied"}`, () => assert.equal(isEligible(stanza), expected));
  }
});

describe("carbon copies (XEP-0280 §7, §8)", () => {
  it("wraps the original from the bare JID to the resource, same type", () => {
    const original = msg({ type: "chat", from: "bob@example.org/x", to: "alice@example.org/a1" }, body());
    const copy = wrapCarbon("received", original, jid("alice", "example.org", "a1"), jid("alice", "example.org", "a2"));
    assert.equal(copy.attrs.from, "alice@example.org");
    assert.equal(copy.attrs.to, "alice@example.org/a2");
    assert.equal(copy.attrs.type, "chat");
    const inner = copy.getChild("received", NS_CARBONS)?.getChild("forwarded", NS_FORWARD)?.getChild("message", "jabber:client");
    assert.ok(inner, "the original inside received/forwarded");
    assert.equal(inner.attrs.from, "bob@example.org/x");
    assert.equal(inner.getChildText("body"), "hi");
    assert.notEqual(inner, original, "a copy, not the delivered element");
    assert.match(copy.toString("jabber:client"), /<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"/);
  });

  it("keeps an absent type absent and gives a namespace-less original jabber:client", () => {
    const original = new Element("message", "", { to: "a@b" });
    const copy = wrapCarbon("sent", original, jid("a", "b"), jid("a", "b", "r"));
    assert.equal(copy.attrs.type, undefined);
    assert.equal(copy.getChild("sent", NS_CARBONS)?.getChild("forwarded")?.getChild("message")?.ns, "jabber:client");
  });
});

describe("who gets the original (RFC 6121 §8.5)", () => {
  const s = (resource: string, available: boolean, priority: number) =>
    ({ jid: jid("alice", "example.org", resource), available, priority }) as unknown as Session;
  const a1 = s("a1", true, 0);
  const a2 = s("a2", true, -1);
  const a3 = s("a3", false, 0);
  const core = {
    sessionsOf: () => [a1, a2, a3],
    sessionFor: (j: { resource: string }) => [a1, a2, a3].find((x) => x.jid?.resource === j.resource),
  } as unknown as Core;
  const bare = jid("alice", "example.org");

  it("bare JID: available resources with non-negative priority", () => {
    assert.deepEqual([...originalRecipients(core, bare, msg({ type: "chat" }))!], [a1]);
  });
  it("full JID of a session: that session only, even with negative priority", () => {
    assert.deepEqual([...originalRecipients(core, bare.withResource("a2"), msg({ type: "chat" }))!], [a2]);
  });
  it("full JID of an absent resource: as to the bare JID", () => {
    assert.deepEqual([...originalRecipients(core, bare.withResource("gone"), msg({ type: "chat" }))!], [a1]);
  });
  it("errors to a bare JID or an absent resource are dropped", () => {
    assert.equal(originalRecipients(core, bare, msg({ type: "error" })), undefined);
    assert.equal(originalRecipients(core, bare.withResource("gone"), msg({ type: "error" })), undefined);
  });
});
