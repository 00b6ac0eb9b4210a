// Scenario tests over real sockets for the roster (RFC 6121 §2, XEP-0237), subscriptions (RFC 6121
// §3, pre-approval §3.4) and presence (RFC 6121 §4: broadcast, probes, unavailable, directed).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { RawConnection } from "../helpers/raw.js";
import { jid } from "../../src/jid/jid.js";

const NS_ROSTER = "jabber:iq:roster";
const bare = (j: string) => j.split("/")[0]!;

const isPush = (contact: string) => (s: XmlElement) =>
  s.is("iq") && s.attrs.type === "set" && s.getChild("query", NS_ROSTER)?.getChild("item")?.attrs.jid === contact;

const isPresence = (from: string, type?: string) => (s: XmlElement) =>
  s.is("presence") && (s.attrs.from === from || bare(s.attrs.from ?? "") === from) && s.attrs.type === type;

async function rosterGet(c: TestClient, ver?: string): Promise<XmlElement> {
  return c.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS_ROSTER, ...(ver !== undefined ? { ver } : {}) })));
}

/** Acknowledges a roster push (RFC 6121 §2.1.6: the client answers with a result). */
async function ack(c: TestClient, push: XmlElement): Promise<void> {
  await c.send(xml("iq", { type: "result", id: push.attrs.id }));
}

async function rosterItem(c: TestClient, contact: string): Promise<XmlElement | undefined> {
  const r = await rosterGet(c);
  return r.getChild("query")?.getChildren("item").find((i) => i.attrs.jid === contact);
}

/** Connects, fetches the roster (becoming "interested") and sends initial presence. */
async function online(server: TestServer, user: string, password: string, resource: string): Promise<TestClient> {
  const c = await connectClient(server, user, password, { resource });
  await rosterGet(c);
  await c.send(xml("presence"));
  await c.waitFor(isPresence(c.jid, undefined)); // own presence reflected: initial presence processed
  return c;
}

describe("roster and presence scenarios", () => {
  let server: TestServer;
  const d = () => server.domain;
  const open: TestClient[] = [];
  const connect = async (user: string, resource: string) => {
    const c = await online(server, user, user + "pass", resource);
    open.push(c);
    return c;
  };

  before(async () => {
    server = await startTestServer();
    for (const u of ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]) await server.createAccount(u, u + "pass");
  });

  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("announces roster versioning and pre-approval after authentication", async () => {
    const conn = await RawConnection.connect(server.port);
    await conn.open();
    await conn.starttls();
    assert.equal(await conn.scram("SCRAM-SHA-256", "gina", "ginapass"), "success");
    const features = await conn.open();
    conn.end();
    assert.match(features, /<ver xmlns="urn:xmpp:features:rosterver"\/>/); // XEP-0237 §3
    assert.match(features, /<sub xmlns="urn:xmpp:features:pre-approval"\/>/); // RFC 6121 §3.4.1
    const c = await connectClient(server, "gina", "ginapass");
    open.push(c);
    const r = await rosterGet(c, "");
    assert.ok(r.getChild("query")?.attrs.ver, "a ver attribute when the client asked for versioning");
  });

  it("roster get/set/push/remove with versions (RFC 6121 §2, §2.6)", async () => {
    const a = await connect("alice", "r1");
    const a2 = await connect("alice", "r2");
    const first = await rosterGet(a, "");
    const ver0 = first.getChild("query")!.attrs.ver as string;
    assert.equal(first.getChild("query")!.getChildren("item").length, 0);

    // unchanged version: empty result (RFC 6121 §2.6.3)
    const same = await rosterGet(a, ver0);
    assert.equal(same.getChild("query"), undefined);

    const contact = "zed@" + d();
    await a.iq(
      xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: contact, name: "Zed" }, xml("group", {}, "Friends")))),
    );
    // pushes go to every interested resource, with the new version
    const push1 = await a.waitFor(isPush(contact));
    const push2 = await a2.waitFor(isPush(contact));
    await ack(a, push1);
    await ack(a2, push2);
    const ver1 = push1.getChild("query")!.attrs.ver as string;
    assert.notEqual(ver1, ver0);
    const item = push1.getChild("query")!.getChild("item")!;
    assert.equal(item.attrs.subscription, "none");
    assert.equal(item.attrs.name, "Zed");
    assert.equal(item.getChildText("group"), "Friends");

    // an old version gets the full roster with the current version
    const full = await rosterGet(a, ver0);
    assert.equal(full.getChild("query")!.attrs.ver, ver1);
    assert.equal(full.getChild("query")!.getChildren("item").length, 1);

    // RFC 6121 §2.3.3 errors
    const bad = async (item: XmlElement | XmlElement[], condition: string) => {
      const items = Array.isArray(item) ? item : [item];
      await assert.rejects(a.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, ...items))), (e: Error & { condition?: string }) => {
        assert.equal(e.condition, condition);
        return true;
      });
    };
    await bad([xml("item", { jid: "x@" + d() }), xml("item", { jid: "y@" + d() })], "bad-request");
    await bad(xml("item", { jid: "x@" + d() }, xml("group", {}, "G"), xml("group", {}, "G")), "bad-request");
    await bad(xml("item", { jid: "x@" + d() }, xml("group", {})), "not-acceptable");
    await bad(xml("item", { jid: "x@" + d(), name: "n".repeat(2000) }), "not-acceptable");
    await bad(xml("item", { jid: "nobody-here@" + d(), subscription: "remove" }), "item-not-found");

    // someone else's roster is forbidden (RFC 6121 §2.1.5)
    const b = await connectClient(server, "bob", "bobpass", { resource: "spy" });
    open.push(b);
    await assert.rejects(b.iq(xml("iq", { type: "get", to: "alice@" + d() }, xml("query", { xmlns: NS_ROSTER }))), (e: Error & { condition?: string }) => {
      assert.equal(e.condition, "forbidden");
      return true;
    });

    // remove: a push with subscription="remove"
    await a.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: contact, subscription: "remove" }))));
    const rm = await a2.waitFor(isPush(contact));
    assert.equal(rm.getChild("query")!.getChild("item")!.attrs.subscription, "remove");
    assert.notEqual(rm.getChild("query")!.attrs.ver, ver1);
    assert.equal(await rosterItem(a, contact), undefined);
    await b.close();
  });

  it("subscription handshake: alice subscribes to bob, bob approves, bob subscribes back → both", async () => {
    const a = await connect("alice", "hs");
    const b = await connect("bob", "hs");
    const A = "alice@" + d();
    const B = "bob@" + d();

    await a.send(xml("presence", { to: B, type: "subscribe", id: "sub1" }));
    const pushA = await a.waitFor(isPush(B));
    assert.equal(pushA.getChild("query")!.getChild("item")!.attrs.ask, "subscribe");
    // RFC 6121 §3.1.2: the request reaches bob from alice's bare JID
    const req = await b.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe");
    assert.equal(req.attrs.from, A);
    // a pending request does not put alice in bob's roster yet
    assert.equal(await rosterItem(b, A), undefined);

    await b.send(xml("presence", { to: A, type: "subscribed" }));
    const pushB = await b.waitFor(isPush(A));
    assert.equal(pushB.getChild("query")!.getChild("item")!.attrs.subscription, "from");
    await a.waitFor((s) => s.is("presence") && s.attrs.type === "subscribed" && s.attrs.from === B);
    const pushA2 = await a.waitFor((s) => isPush(B)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "to");
    assert.equal(pushA2.getChild("query")!.getChild("item")!.attrs.ask, undefined);
    // RFC 6121 §3.1.5: bob's current presence reaches alice once she is subscribed
    await a.waitFor(isPresence(b.jid, undefined));

    await b.send(xml("presence", { to: A, type: "subscribe" }));
    await a.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe" && s.attrs.from === B);
    await a.send(xml("presence", { to: B, type: "subscribed" }));
    await b.waitFor((s) => isPush(A)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "both");
    await a.waitFor((s) => isPush(B)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "both");
    assert.equal((await rosterItem(a, B))?.attrs.subscription, "both");
    assert.equal((await rosterItem(b, A))?.attrs.subscription, "both");

    // a repeated subscribe from a subscribed contact is answered by bob's server, not delivered to
    // bob (RFC 6121 §3.1.3); the answer changes nothing for alice, so it is not delivered either (A.3.3)
    await a.send(xml("presence", { to: B, type: "subscribe" }));
    assert.equal(await b.receivedWithin((s) => s.is("presence") && s.attrs.type === "subscribe", 300), false);
    assert.equal((await rosterItem(a, B))?.attrs.subscription, "both");

    // presence broadcast now reaches the contact (RFC 6121 §4.4)
    await b.send(xml("presence", {}, xml("show", {}, "away")));
    const pres = await a.waitFor((s) => isPresence(b.jid, undefined)(s) && s.getChildText("show") === "away");
    assert.equal(pres.attrs.from, b.jid);
  });

  it("a pending request is delivered at the next initial presence (RFC 6121 §3.1.3)", async () => {
    const c = await connect("carol", "x");
    await c.send(xml("presence", { to: "dave@" + d(), type: "subscribe" }));
    await c.waitFor(isPush("dave@" + d()));
    const dv = await connectClient(server, "dave", "davepass", { resource: "later" });
    open.push(dv);
    await dv.send(xml("presence"));
    const req = await dv.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe");
    assert.equal(req.attrs.from, "carol@" + d());
    // denying it clears the request and carol's pending state
    await dv.send(xml("presence", { to: "carol@" + d(), type: "unsubscribed" }));
    await c.waitFor((s) => s.is("presence") && s.attrs.type === "unsubscribed");
    const p = await c.waitFor((s) => isPush("dave@" + d())(s) && s.getChild("query")!.getChild("item")!.attrs.ask === undefined);
    assert.equal(p.getChild("query")!.getChild("item")!.attrs.subscription, "none");
    // a denied request leaves nothing in dave's roster
    assert.equal(await rosterItem(dv, "carol@" + d()), undefined);
  });

  it("pre-approval: subscribed before the request makes the request auto-approved (RFC 6121 §3.4)", async () => {
    const e = await connect("erin", "x");
    const f = await connect("frank", "x");
    const E = "erin@" + d();
    const F = "frank@" + d();
    await e.send(xml("presence", { to: F, type: "subscribed" }));
    const push = await e.waitFor(isPush(F));
    assert.equal(push.getChild("query")!.getChild("item")!.attrs.approved, "true");
    // not routed to frank
    assert.equal(await f.receivedWithin((s) => s.is("presence") && s.attrs.type === "subscribed", 300), false);

    await f.send(xml("presence", { to: E, type: "subscribe" }));
    await f.waitFor((s) => s.is("presence") && s.attrs.type === "subscribed" && s.attrs.from === E);
    await f.waitFor((s) => isPush(E)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "to");
    const pushE = await e.waitFor((s) => isPush(F)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "from");
    assert.equal(pushE.getChild("query")!.getChild("item")!.attrs.approved, undefined);
    // erin never saw the request
    assert.equal(await e.receivedWithin((s) => s.is("presence") && s.attrs.type === "subscribe", 200), false);
    // frank receives erin's presence
    await f.waitFor(isPresence(e.jid, undefined));
  });

  it("probes at login, unavailable on disconnect, directed presence, unauthorized probe ignored", async () => {
    // alice and bob are "both" since the handshake test
    const b = await connect("bob", "probe-target");
    const a = await connectClient(server, "alice", "alicepass", { resource: "fresh" });
    open.push(a);
    await a.send(xml("presence"));
    // RFC 6121 §4.3: alice's login probes bob; bob's available resource answers to the new resource
    const p = await a.waitFor(isPresence(b.jid, undefined));
    assert.equal(p.attrs.to, a.jid);
    // bob sees alice come online (broadcast, RFC 6121 §4.2.2)
    await b.waitFor(isPresence(a.jid, undefined));

    // directed presence to a non-contact (RFC 6121 §4.6), then unavailable on disconnect (§4.5.2)
    const g = await connect("gina", "dp");
    await a.send(xml("presence", { to: g.jid }, xml("status", {}, "hi gina")));
    const dp = await g.waitFor(isPresence(a.jid, undefined));
    assert.equal(dp.getChildText("status"), "hi gina");
    await a.close();
    await b.waitFor(isPresence(a.jid, "unavailable"));
    await g.waitFor(isPresence(a.jid, "unavailable"));

    // a probe from an entity that is not subscribed is ignored (RFC 6121 §4.3.2)
    await g.send(xml("presence", { to: "bob@" + d(), type: "probe" }));
    assert.equal(await g.receivedWithin((s) => s.is("presence") && bare(s.attrs.from ?? "") === "bob@" + d(), 400), false);
  });

  it("removing a subscribed contact cancels both directions (RFC 6121 §2.5.2)", async () => {
    const a = await connect("alice", "rm");
    const b = await connect("bob", "rm");
    const A = "alice@" + d();
    const B = "bob@" + d();
    assert.equal((await rosterItem(a, B))?.attrs.subscription, "both");
    await a.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: B, subscription: "remove" }))));
    await b.waitFor((s) => s.is("presence") && s.attrs.type === "unsubscribe" && s.attrs.from === A);
    await b.waitFor((s) => s.is("presence") && s.attrs.type === "unsubscribed" && s.attrs.from === A);
    await b.waitFor(isPresence(a.jid, "unavailable"));
    await b.waitFor((s) => isPush(A)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "none");
    assert.equal((await rosterItem(b, A))?.attrs.subscription, "none");
  });

  it("deleting an account removes it from local rosters", async () => {
    const c = await connect("carol", "del");
    const dv = await connect("dave", "del");
    const C = "carol@" + d();
    const D = "dave@" + d();
    await c.send(xml("presence", { to: D, type: "subscribe" }));
    await dv.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe" && s.attrs.from === C);
    await dv.send(xml("presence", { to: C, type: "subscribed" }));
    await c.waitFor((s) => isPush(D)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "to");
    await server.core.accounts.delete(jid("carol", d()));
    const rm = await dv.waitFor((s) => isPush(C)(s) && s.getChild("query")!.getChild("item")!.attrs.subscription === "remove");
    assert.ok(rm);
    assert.equal(await server.core.storage.countMentions(C), 0);
  });
});
