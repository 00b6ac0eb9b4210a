// Roster item syntax: <item/> building and the roster-set error cases of RFC 6121 §2.3.3.
import { test } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { parseJid } from "../../jid/jid.js";
import { StanzaError } from "../../core/errors.js";
import { NS_ROSTER, elementFromJson, elementToJson, itemElement, parseRosterSet, visibleKey } from "./items.js";

const owner = parseJid("juliet@example.com");
const query = (...items: ReturnType<typeof x>[]) => x("query", { xmlns: NS_ROSTER }, ...items);

function condition(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof StanzaError) return e.condition;
    throw e;
  }
  return "none";
}

test("itemElement writes name, subscription, ask, approved and groups (RFC 6121 §2.1.2)", () => {
  const el = itemElement("romeo@example.net", { name: "Romeo", subscription: "none", ask: "subscribe", approved: true, groups: ["A", "B"] });
  assert.equal(el.toString(NS_ROSTER), '<item jid="romeo@example.net" name="Romeo" subscription="none" ask="subscribe" approved="true"><group>A</group><group>B</group></item>');
  assert.equal(itemElement("romeo@example.net", undefined).toString(), '<item jid="romeo@example.net" subscription="remove"/>');
});

test("a valid roster set is parsed; subscription, ask and approved from the client are ignored", () => {
  const r = parseRosterSet(query(x("item", { jid: "Romeo@Example.net", name: "R", subscription: "both", ask: "subscribe" }, x("group", null, "G"))), owner);
  assert.equal(r.jid.toString(), "romeo@example.net");
  assert.equal(r.remove, false);
  assert.equal(r.name, "R");
  assert.deepEqual(r.groups, ["G"]);
  assert.equal(parseRosterSet(query(x("item", { jid: "romeo@example.net", subscription: "remove" })), owner).remove, true);
});

test("RFC 6121 §2.3.3 error cases", () => {
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b" }), x("item", { jid: "c@d" })), owner)), "bad-request");
  assert.equal(condition(() => parseRosterSet(query(), owner)), "bad-request");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b" }, x("group", null, "G"), x("group", null, "G"))), owner)), "bad-request");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b" }, x("group"))), owner)), "not-acceptable");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b" }, x("group", null, "g".repeat(1024)))), owner)), "not-acceptable");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b", name: "n".repeat(1024) })), owner)), "not-acceptable");
  assert.equal(condition(() => parseRosterSet(query(x("item", {})), owner)), "bad-request");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@@b" })), owner)), "jid-malformed");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b/res" })), owner)), "bad-request");
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "juliet@example.com" })), owner)), "not-allowed");
  // a name at the limit is fine
  assert.equal(condition(() => parseRosterSet(query(x("item", { jid: "a@b", name: "n".repeat(1023) })), owner)), "none");
});

test("stanzas survive the JSON round trip used for pending requests", () => {
  const p = x("presence", { xmlns: "jabber:client", from: "a@b", to: "c@d", type: "subscribe" }, x("status", null, "let me in <3"), x("nick", { xmlns: "http://jabber.org/protocol/nick" }, "A"));
  const back = elementFromJson(JSON.parse(JSON.stringify(elementToJson(p))));
  assert.equal(back.toString(), p.toString());
});

test("visibleKey ignores hidden rows and pending-in state", () => {
  assert.equal(visibleKey({ subscription: "none", groups: [], hidden: true, pendingIn: true }), "");
  assert.equal(visibleKey({ subscription: "from", groups: [] }), visibleKey({ subscription: "from", groups: [], pendingIn: true }));
  assert.notEqual(visibleKey({ subscription: "from", groups: [] }), visibleKey({ subscription: "both", groups: [] }));
});
