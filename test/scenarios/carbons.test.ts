// Scenario tests for message carbons (XEP-0280) over real sockets: alice on three resources (a1 and
// a2 with carbons, a3 without) and bob. Received copies (§7), sent copies (§8), <private/> (§9),
// the no-copy hint (XEP-0334), disabling (§5) and who may enable (§4.1).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";

const NS_CARBONS = "urn:xmpp:carbons:2";
const NS_FORWARD = "urn:xmpp:forward:0";
/** How long "nothing arrives" is watched for: deliveries of one routed stanza happen in one turn. */
const QUIET_MS = 250;

/** The forwarded original of a carbon in `dir`, if the stanza is one. */
function carbonInner(s: XmlElement, dir: "received" | "sent"): XmlElement | undefined {
  return s.is("message") ? s.getChild(dir, NS_CARBONS)?.getChild("forwarded", NS_FORWARD)?.getChild("message") : undefined;
}
const isCarbon = (dir: "received" | "sent", bodyText: string) => (s: XmlElement) => carbonInner(s, dir)?.getChildText("body") === bodyText;
const anyCarbonOf = (bodyText: string) => (s: XmlElement) => isCarbon("received", bodyText)(s) || isCarbon("sent", bodyText)(s);
const isPlain = (bodyText: string) => (s: XmlElement) => s.is("message") && s.getChildText("body") === bodyText;

let n = 0;
const unique = (label: string) => `${label} ${++n} ${Math.random().toString(36).slice(2)}`;

describe("message carbons scenarios", () => {
  let server: TestServer;
  let a1: TestClient;
  let a2: TestClient;
  let a3: TestClient;
  let bob: TestClient;
  const A = () => `alice@${server.domain}`;

  const online = async (user: string, resource: string, priority?: number) => {
    const c = await connectClient(server, user, user + "pass", { resource });
    await c.send(xml("presence", {}, priority !== undefined ? xml("priority", {}, String(priority)) : null));
    await c.waitFor((s) => s.is("presence") && s.attrs.from === c.jid); // own presence: initial presence processed
    return c;
  };
  const enable = (c: TestClient) => c.iq(xml("iq", { type: "set" }, xml("enable", { xmlns: NS_CARBONS })));

  before(async () => {
    server = await startTestServer();
    await server.createAccount("alice", "alicepass");
    await server.createAccount("bob", "bobpass");
    a1 = await online("alice", "a1");
    a2 = await online("alice", "a2");
    a3 = await online("alice", "a3");
    bob = await online("bob", "b1");
    await enable(a1);
    await enable(a2);
    await enable(a2); // XEP-0280 §10.1: enabling twice is no error
  });

  after(async () => {
    for (const c of [a1, a2, a3, bob]) await c?.close();
    await server?.stop();
  });

  it("advertises urn:xmpp:carbons:2 on the domain (XEP-0280 §3)", async () => {
    const r = await a1.iq(xml("iq", { type: "get", to: server.domain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const vars = r.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
    assert.ok(vars.includes(NS_CARBONS));
  });

  it("copies a message to a full JID to the other enabled resource only (§7)", async () => {
    const text = unique("to a1");
    await bob.send(xml("message", { to: `${A()}/a1`, type: "chat" }, xml("body", {}, text)));
    await a1.waitFor(isPlain(text));
    const copy = await a2.waitFor(isCarbon("received", text));
    assert.equal(copy.attrs.from, A(), "the copy comes from the account's bare JID");
    assert.equal(copy.attrs.to, a2.jid);
    assert.equal(copy.attrs.type, "chat");
    const inner = carbonInner(copy, "received")!;
    assert.equal(inner.attrs.from, bob.jid);
    assert.equal(inner.attrs.to, `${A()}/a1`);
    assert.equal(await a3.receivedWithin((s) => isPlain(text)(s) || anyCarbonOf(text)(s), QUIET_MS), false, "a3 has no carbons");
    assert.equal(await a1.receivedWithin(anyCarbonOf(text), 50), false, "the addressed resource gets no copy");
  });

  it("a message to the bare JID reaching every resource makes no copies (§7)", async () => {
    const text = unique("to bare");
    await bob.send(xml("message", { to: A(), type: "chat" }, xml("body", {}, text)));
    await Promise.all([a1.waitFor(isPlain(text)), a2.waitFor(isPlain(text)), a3.waitFor(isPlain(text))]);
    assert.equal(await a2.receivedWithin(anyCarbonOf(text), QUIET_MS), false);
  });

  it("a resource with negative priority gets a bare-JID message as a copy", async () => {
    await a2.send(xml("presence", {}, xml("priority", {}, "-1")));
    await a1.waitFor((s) => s.is("presence") && s.attrs.from === a2.jid && s.getChildText("priority") === "-1");
    try {
      const text = unique("to bare, a2 negative");
      await bob.send(xml("message", { to: A(), type: "normal" }, xml("body", {}, text)));
      await a1.waitFor(isPlain(text));
      await a3.waitFor(isPlain(text));
      const copy = await a2.waitFor(isCarbon("received", text));
      assert.equal(copy.attrs.type, "normal");
      assert.equal(await a1.receivedWithin(anyCarbonOf(text), QUIET_MS), false, "a1 got the original");
    } finally {
      await a2.send(xml("presence"));
      await a1.waitFor((s) => s.is("presence") && s.attrs.from === a2.jid && s.getChild("priority") === undefined);
    }
  });

  it("copies what a resource sends to the other enabled resources, not back to the sender (§8)", async () => {
    const text = unique("from a1");
    await a1.send(xml("message", { to: bob.jid, type: "chat", id: "m-sent" }, xml("body", {}, text)));
    await bob.waitFor(isPlain(text));
    const copy = await a2.waitFor(isCarbon("sent", text));
    assert.equal(copy.attrs.from, A());
    const inner = carbonInner(copy, "sent")!;
    assert.equal(inner.attrs.from, a1.jid);
    assert.equal(inner.attrs.to, bob.jid);
    assert.equal(inner.attrs.id, "m-sent");
    assert.equal(await a1.receivedWithin(anyCarbonOf(text), QUIET_MS), false, "the sender gets no copy");
    assert.equal(await a3.receivedWithin(anyCarbonOf(text), 50), false);
  });

  it("copies what a resource without carbons sends, too (§8)", async () => {
    const text = unique("from a3");
    await a3.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, text)));
    await bob.waitFor(isPlain(text));
    await a1.waitFor(isCarbon("sent", text));
    await a2.waitFor(isCarbon("sent", text));
  });

  it("copies chat states and receipts, not headlines or body-less normal messages (§6)", async () => {
    const id = unique("receipt");
    await bob.send(xml("message", { to: `${A()}/a1` }, xml("received", { xmlns: "urn:xmpp:receipts", id })));
    const copy = await a2.waitFor((s) => carbonInner(s, "received")?.getChild("received", "urn:xmpp:receipts")?.attrs.id === id);
    assert.ok(copy);
    const text = unique("headline");
    await bob.send(xml("message", { to: `${A()}/a1`, type: "headline" }, xml("body", {}, text)));
    await a1.waitFor(isPlain(text));
    const thread = unique("thread");
    await bob.send(xml("message", { to: `${A()}/a1` }, xml("thread", {}, thread)));
    await a1.waitFor((s) => s.is("message") && s.getChildText("thread") === thread);
    const copied = (s: XmlElement) => anyCarbonOf(text)(s) || carbonInner(s, "received")?.getChildText("thread") === thread;
    assert.equal(await a2.receivedWithin(copied, QUIET_MS), false);
  });

  it("honours <private/> on both sides and removes it before delivery (§9)", async () => {
    const out = unique("private out");
    await a1.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, out), xml("private", { xmlns: NS_CARBONS })));
    const got = await bob.waitFor(isPlain(out));
    assert.equal(got.getChild("private", NS_CARBONS), undefined, "the receiving server removes <private/>");
    assert.equal(await a2.receivedWithin(anyCarbonOf(out), QUIET_MS), false, "no sent copy");

    const inbound = unique("private in");
    await bob.send(xml("message", { to: `${A()}/a1`, type: "chat" }, xml("body", {}, inbound), xml("private", { xmlns: NS_CARBONS })));
    const delivered = await a1.waitFor(isPlain(inbound));
    assert.equal(delivered.getChild("private", NS_CARBONS), undefined);
    assert.equal(await a2.receivedWithin(anyCarbonOf(inbound), QUIET_MS), false, "no received copy");
  });

  it("honours the no-copy hint (XEP-0334)", async () => {
    const out = unique("no-copy out");
    await a1.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, out), xml("no-copy", { xmlns: "urn:xmpp:hints" })));
    await bob.waitFor(isPlain(out));
    const inbound = unique("no-copy in");
    await bob.send(xml("message", { to: `${A()}/a1`, type: "chat" }, xml("body", {}, inbound), xml("no-copy", { xmlns: "urn:xmpp:hints" })));
    await a1.waitFor(isPlain(inbound));
    assert.equal(await a2.receivedWithin((s) => anyCarbonOf(out)(s) || anyCarbonOf(inbound)(s), QUIET_MS), false);
  });

  it("refuses to enable carbons for another account (§4.1)", async () => {
    await assert.rejects(
      bob.iq(xml("iq", { type: "set", to: A() }, xml("enable", { xmlns: NS_CARBONS }))),
      (err: { condition?: string }) => err.condition === "not-allowed",
    );
  });

  it("stops copies once a resource disables carbons (§5)", async () => {
    await a2.iq(xml("iq", { type: "set" }, xml("disable", { xmlns: NS_CARBONS })));
    const text = unique("after disable");
    await bob.send(xml("message", { to: `${A()}/a1`, type: "chat" }, xml("body", {}, text)));
    await a1.waitFor(isPlain(text));
    const sent = unique("sent after disable");
    await a3.send(xml("message", { to: bob.jid, type: "chat" }, xml("body", {}, sent)));
    await bob.waitFor(isPlain(sent));
    await a1.waitFor(isCarbon("sent", sent)); // a1 still has carbons on
    assert.equal(await a2.receivedWithin((s) => anyCarbonOf(text)(s) || anyCarbonOf(sent)(s), QUIET_MS), false);
  });
});
