// Scenario tests over real sockets for offline messages (XEP-0160, RFC 6121 §8.5.2.2.1): storage,
// delivery at initial presence with a XEP-0203 delay, survival across a restart (SQLite), the
// per-account cap, XEP-0334 hints, negative priority, and deletion with the account.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";
import { x } from "../../src/xml/element.js";

const NS_DELAY = "urn:xmpp:delay";
const NS_HINTS = "urn:xmpp:hints";

const chat = (to: string, body: string, ...extra: XmlElement[]) => xml("message", { to, type: "chat", id: "m-" + body }, xml("body", {}, body), ...extra);
const isBody = (body: string) => (s: XmlElement) => s.is("message") && s.getChildText("body") === body;
const isError = (id: string) => (s: XmlElement) => s.is("message") && s.attrs.type === "error" && s.attrs.id === id;
const errorCondition = (s: XmlElement) => s.getChild("error")?.children.find((c): c is XmlElement => typeof c !== "string" && c.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-stanzas")?.name;

async function pending(server: TestServer, user: string): Promise<number> {
  const r = await server.core.storage.archive("offline").query(`${user}@${server.domain}`, { limit: 0 });
  return r.count ?? -1;
}

describe("offline messages", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const connect = async (user: string, resource?: string) => {
    const c = await connectClient(server, user, user + "pass", resource ? { resource } : {});
    open.push(c);
    return c;
  };
  const to = (user: string) => `${user}@${server.domain}`;

  before(async () => {
    server = await startTestServer({ offline: { maxPerAccount: 3 } });
    for (const u of ["alice", "bob", "carol", "dave", "erin", "frank"]) await server.createAccount(u, u + "pass");
  });

  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("announces msgoffline (XEP-0160 §4)", async () => {
    const a = await connect("alice");
    const info = await a.iq(xml("iq", { type: "get", to: server.domain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const features = info.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
    assert.ok(features.includes("msgoffline"));
  });

  it("stores for an offline user and delivers oldest first with a delay at initial presence", async () => {
    const a = await connect("alice");
    await a.send(xml("presence"));
    for (const b of ["one", "two", "three"]) await a.send(chat(to("bob"), b));
    // nothing bounced: the messages were stored
    assert.equal(await a.receivedWithin((s) => s.is("message") && s.attrs.type === "error", 300), false);
    assert.equal(await pending(server, "bob"), 3);

    const b = await connect("bob");
    // no delivery before available presence (XEP-0160 §2)
    assert.equal(await b.receivedWithin(isBody("one"), 200), false);
    const order: string[] = [];
    b.xmpp.on("stanza", (s: XmlElement) => {
      if (s.is("message")) order.push(s.getChildText("body") ?? "");
    });
    await b.send(xml("presence"));
    const got: XmlElement[] = [];
    for (const body of ["one", "two", "three"]) got.push(await b.waitFor(isBody(body)));
    // oldest first, each once
    assert.deepEqual(order, ["one", "two", "three"]);
    for (const m of got) {
      const delay = m.getChild("delay", NS_DELAY);
      assert.ok(delay, "a XEP-0203 delay");
      assert.equal(delay.attrs.from, server.domain);
      assert.match(delay.attrs.stamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.equal(bare(m.attrs.from as string), to("alice"));
    }
    // delivered messages are deleted: a second session gets nothing again
    await waitUntil(async () => (await pending(server, "bob")) === 0);
    const b2 = await connect("bob", "second");
    await b2.send(xml("presence"));
    assert.equal(await b2.receivedWithin(isBody("one"), 300), false);
  });

  it("refuses beyond offline.maxPerAccount with resource-constraint", async () => {
    const a = await connect("alice", "cap");
    for (const body of ["c1", "c2", "c3"]) await a.send(chat(to("carol"), body));
    await a.send(chat(to("carol"), "c4"));
    const err = await a.waitFor(isError("m-c4"));
    assert.equal(errorCondition(err), "resource-constraint");
    assert.equal(await a.receivedWithin((s) => isError("m-c3")(s) || isError("m-c1")(s), 100), false);
    assert.equal(await pending(server, "carol"), 3);
  });

  it("honours <no-store/> and does not store bare chat states: the sender gets service-unavailable", async () => {
    const a = await connect("alice", "hints");
    await a.send(chat(to("dave"), "secret", xml("no-store", { xmlns: NS_HINTS })));
    assert.equal(errorCondition(await a.waitFor(isError("m-secret"))), "service-unavailable");
    await a.send(xml("message", { to: to("dave"), type: "chat", id: "cs" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
    assert.equal(errorCondition(await a.waitFor(isError("cs"))), "service-unavailable");
    // a <store/> hint keeps a bodiless message (XEP-0334 §4.4)
    await a.send(xml("message", { to: to("dave"), type: "chat", id: "mk" }, xml("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: "x" }), xml("store", { xmlns: NS_HINTS })));
    assert.equal(await a.receivedWithin(isError("mk"), 300), false);
    assert.equal(await pending(server, "dave"), 1);
  });

  it("keeps messages from negative-priority sessions (RFC 6121 §8.5.2.1.1)", async () => {
    const a = await connect("alice", "neg");
    await a.send(chat(to("erin"), "later"));
    await waitUntil(async () => (await pending(server, "erin")) === 1);
    const e1 = await connect("erin", "bot");
    await e1.send(xml("presence", {}, xml("priority", {}, "-1")));
    assert.equal(await e1.receivedWithin(isBody("later"), 300), false);
    assert.equal(await pending(server, "erin"), 1);
    const e2 = await connect("erin", "phone");
    await e2.send(xml("presence", {}, xml("priority", {}, "5")));
    assert.ok(await e2.waitFor(isBody("later")));
    assert.equal(await e1.receivedWithin(isBody("later"), 100), false);
  });

  it("deletes stored messages with the account", async () => {
    // from outside the server, so that no local sender's own archive (XEP-0313) mentions frank
    const from = "stranger@elsewhere.example/x";
    await server.core.route(x("message", { xmlns: "jabber:client", type: "chat", from, to: to("frank") }, x("body", null, "bye")));
    await waitUntil(async () => (await pending(server, "frank")) === 1);
    await server.core.accounts.delete(jid("frank", server.domain));
    assert.equal(await pending(server, "frank"), 0);
    assert.equal(await server.core.storage.countMentions(to("frank")), 0);
  });
});

describe("offline messages across a restart", () => {
  it("survives stopping the server (SQLite) and is delivered after restart", async () => {
    let server = await startTestServer();
    let alice: TestClient | undefined;
    let bob: TestClient | undefined;
    try {
      await server.createAccount("alice", "alicepass");
      await server.createAccount("bob", "bobpass");
      alice = await connectClient(server, "alice", "alicepass");
      await alice.send(chat(`bob@${server.domain}`, "after the restart"));
      await waitUntil(async () => (await pending(server, "bob")) === 1);
      await alice.close();
      await server.stop({ keepData: true });
      server = await startTestServer({ dataDir: server.dataDir });
      bob = await connectClient(server, "bob", "bobpass");
      await bob.send(xml("presence"));
      const m = await bob.waitFor(isBody("after the restart"));
      assert.ok(m.getChild("delay", NS_DELAY));
      assert.equal(bare(m.attrs.from as string), `alice@${server.domain}`);
    } finally {
      await alice?.close();
      await bob?.close();
      await server.stop();
    }
  });
});

function bare(j: string): string {
  return j.split("/")[0]!;
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}
