// Scenario tests for client state indication (XEP-0352) over real sockets: an inactive client gets
// no presence updates but its messages at once, then only the newest presence of each contact.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { RawConnection } from "../helpers/raw.js";

const NS_CSI = "urn:xmpp:csi:0";
const QUIET_MS = 300;

describe("client state indication scenarios", () => {
  let server: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  const fromBob = (s: XmlElement) => s.is("presence") && s.attrs.from === bob.jid;
  /** A round trip to the server: everything the client sent before has been processed (RFC 6120 §10.1). */
  const sync = (c: TestClient) => c.iq(xml("iq", { type: "get", to: server.domain }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  const setState = async (c: TestClient, state: "active" | "inactive") => {
    await c.send(xml(state, { xmlns: NS_CSI }));
    await sync(c); // XEP-0352 §5.1: the pong comes after whatever the nonza caused
  };
  /** Bob changes his status `count` times, then waits until the server has processed it all. */
  const flip = async (label: string, count: number) => {
    const shows = ["away", "xa", "dnd", "chat"];
    for (let i = 1; i <= count; i++) {
      await bob.send(xml("presence", {}, xml("show", {}, shows[i % shows.length]!), xml("status", {}, `${label} ${i}`)));
    }
    await sync(bob);
  };

  before(async () => {
    server = await startTestServer();
    await server.createAccount("alice", "alicepass");
    await server.createAccount("bob", "bobpass");
    alice = await connectClient(server, "alice", "alicepass", { resource: "phone" });
    bob = await connectClient(server, "bob", "bobpass", { resource: "pc" });
    await alice.send(xml("presence"));
    await bob.send(xml("presence"));
    // alice subscribes to bob's presence (RFC 6121 §3.1)
    await alice.send(xml("presence", { to: `bob@${server.domain}`, type: "subscribe" }));
    await bob.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe");
    await bob.send(xml("presence", { to: `alice@${server.domain}`, type: "subscribed" }));
    await alice.waitFor(fromBob); // RFC 6121 §3.1.5: bob's current presence once subscribed
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await server?.stop();
  });

  it("advertises CSI after authentication (XEP-0352 §4.1)", async () => {
    const conn = await RawConnection.connect(server.port);
    const before = await conn.open();
    const preAuth = await conn.starttls(); // features of the stream after TLS
    assert.equal(await conn.scram("SCRAM-SHA-256", "alice", "alicepass"), "success");
    const postAuth = await conn.open();
    conn.end();
    assert.doesNotMatch(before + preAuth, /urn:xmpp:csi:0/);
    assert.match(postAuth, /<csi xmlns="urn:xmpp:csi:0"\/>/);
  });

  it("holds presence updates while inactive, delivers messages at once, then only the newest presence", async () => {
    await setState(alice, "inactive");
    await flip("round one", 5);
    assert.equal(await alice.receivedWithin(fromBob, QUIET_MS), false, "no presence while inactive");

    // a message without a body (a chat state) goes through at once and leaves presences held
    await bob.send(xml("message", { to: alice.jid, type: "chat" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
    await alice.waitFor((s) => s.is("message") && s.getChild("composing") !== undefined, 2000);
    assert.equal(await alice.receivedWithin(fromBob, 100), false, "still held");

    await setState(alice, "active");
    const latest = await alice.waitFor(fromBob, 2000);
    assert.equal(latest.getChildText("status"), "round one 5", "only the newest presence");
    assert.equal(latest.getChildText("show"), "xa");
    assert.ok(latest.getChild("delay", "urn:xmpp:delay")?.attrs.stamp, "stamped with when it happened (XEP-0203)");
    assert.equal(await alice.receivedWithin(fromBob, QUIET_MS), false, "the four older ones are gone");

    // active again: presence flows as usual
    await flip("active", 1);
    const live = await alice.waitFor(fromBob, 2000);
    assert.equal(live.getChildText("status"), "active 1");
    assert.equal(live.getChild("delay", "urn:xmpp:delay"), undefined);
  });

  it("flushes held presence before a message with a body, in order", async () => {
    await setState(alice, "inactive");
    await flip("round two", 3);
    assert.equal(await alice.receivedWithin(fromBob, QUIET_MS), false);
    const text = "wake up " + Math.random();
    const order: string[] = [];
    let recording = true;
    const record = (s: XmlElement) => {
      if (!recording) return;
      if (fromBob(s)) order.push(`presence ${s.getChildText("status")}`);
      else if (s.is("message") && s.getChildText("body") === text) order.push("message");
    };
    alice.xmpp.on("stanza", record);
    try {
      await bob.send(xml("message", { to: alice.jid, type: "chat" }, xml("body", {}, text)));
      await alice.waitFor((s) => s.is("message") && s.getChildText("body") === text, 2000);
      await alice.waitFor(fromBob, 2000);
    } finally {
      recording = false; // the typings offer no removeListener; the listener goes quiet
    }
    assert.deepEqual(order, ["presence round two 3", "message"], "the newest presence only, before the message");
    await setState(alice, "active");
    assert.equal(await alice.receivedWithin(fromBob, QUIET_MS), false, "nothing left to flush");
  });

  it("delivers subscription requests at once (flushing first) and holds a later unavailable presence", async () => {
    await setState(alice, "inactive");
    await flip("round three", 2);
    const carolPass = "carolpass";
    await server.createAccount("carol", carolPass);
    const carol = await connectClient(server, "carol", carolPass);
    try {
      await carol.send(xml("presence", { to: `alice@${server.domain}`, type: "subscribe" }));
      // RFC 6121 §3.1.3: a subscription request is important: delivered while inactive, after the
      // presences held so far
      await alice.waitFor((s) => s.is("presence") && s.attrs.type === "subscribe" && s.attrs.from === `carol@${server.domain}`, 2000);
    } finally {
      await carol.close();
    }
    const flushed = alice.received.filter(fromBob);
    assert.deepEqual(flushed.map((p) => p.getChildText("status")), ["round three 2"]);
    await alice.waitFor(fromBob);
    await bob.send(xml("presence", { type: "unavailable" }));
    await sync(bob);
    assert.equal(await alice.receivedWithin(fromBob, QUIET_MS), false, "held again");
    await setState(alice, "active");
    const last = await alice.waitFor(fromBob, 2000);
    assert.equal(last.attrs.type, "unavailable");
    assert.equal(await alice.receivedWithin(fromBob, QUIET_MS), false);
  });
});
