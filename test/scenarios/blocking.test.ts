// Scenario tests over real sockets for simple communications blocking (XEP-0191): the blocklist
// with pushes, refused inbound and outbound stanzas with the XEP's errors, the presence a block
// and an unblock imply, unblock-all, and errors in requests.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";
import type { RosterService } from "../../src/modules/roster/types.js";

const NS_BLOCKING = "urn:xmpp:blocking";
const NS_ERRORS = "urn:xmpp:blocking:errors";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

const bare = (j: string) => j.split("/")[0]!;
const condition = (s: XmlElement) => s.getChild("error")?.children.find((c): c is XmlElement => typeof c !== "string" && c.attrs.xmlns === NS_STANZAS)?.name;
const isPush = (kind: "block" | "unblock") => (s: XmlElement) => s.is("iq") && s.attrs.type === "set" && s.getChild(kind, NS_BLOCKING) !== undefined;
const pushItems = (s: XmlElement, kind: "block" | "unblock") => s.getChild(kind, NS_BLOCKING)!.getChildren("item").map((i) => i.attrs.jid as string);
const isBody = (body: string) => (s: XmlElement) => s.is("message") && s.getChildText("body") === body;

async function blocklist(c: TestClient): Promise<string[]> {
  const r = await c.iq(xml("iq", { type: "get" }, xml("blocklist", { xmlns: NS_BLOCKING })));
  return r.getChild("blocklist", NS_BLOCKING)!.getChildren("item").map((i) => i.attrs.jid as string);
}
const block = (c: TestClient, ...jids: string[]) => c.iq(xml("iq", { type: "set" }, xml("block", { xmlns: NS_BLOCKING }, ...jids.map((j) => xml("item", { jid: j })))));
const unblock = (c: TestClient, ...jids: string[]) => c.iq(xml("iq", { type: "set" }, xml("unblock", { xmlns: NS_BLOCKING }, ...jids.map((j) => xml("item", { jid: j })))));

async function ack(c: TestClient, push: XmlElement): Promise<void> {
  await c.send(xml("iq", { type: "result", id: push.attrs.id }));
}

describe("blocking (XEP-0191)", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const d = () => server.domain;
  const connect = async (user: string, resource: string, presence = true) => {
    const c = await connectClient(server, user, user + "pass", { resource });
    open.push(c);
    if (presence) {
      await c.send(xml("presence"));
      await c.waitFor((s) => s.is("presence") && s.attrs.from === c.jid && s.attrs.type === undefined);
    }
    return c;
  };

  before(async () => {
    server = await startTestServer();
    for (const u of ["alice", "bob", "carol", "dave", "erin"]) await server.createAccount(u, u + "pass");
    // alice and bob share presence both ways (RFC 6121 subscription "both")
    const roster = server.core.service<RosterService>("roster")!;
    await roster.setItem(jid("alice", d()), jid("bob", d()), { subscription: "both", groups: [] }, false);
    await roster.setItem(jid("bob", d()), jid("alice", d()), { subscription: "both", groups: [] }, false);
  });

  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("announces urn:xmpp:blocking (XEP-0191 §3.1)", async () => {
    const c = await connect("dave", "disco", false);
    const info = await c.iq(xml("iq", { type: "get", to: d() }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    assert.ok(info.getChild("query")!.getChildren("feature").some((f) => f.attrs.var === NS_BLOCKING));
  });

  it("blocks, refuses in both directions, and unblocks, with pushes and presence", async () => {
    const BOB = `bob@${d()}`;
    const a1 = await connect("alice", "one");
    const a2 = await connect("alice", "two");
    const a3 = await connect("alice", "three"); // never asks for the blocklist: gets no pushes
    assert.deepEqual(await blocklist(a1), []);
    assert.deepEqual(await blocklist(a2), []);
    const b = await connect("bob", "phone");
    // presence flows before the block
    await a1.waitFor((s) => s.is("presence") && s.attrs.from === b.jid && s.attrs.type === undefined);

    // ---- block (§3.3): result, pushes to the resources that retrieved the list ----
    await block(a1, "Bob@" + d());
    for (const c of [a1, a2]) {
      const push = await c.waitFor(isPush("block"));
      assert.deepEqual(pushItems(push, "block"), [BOB]);
      assert.equal(push.attrs.to, c.jid);
      await ack(c, push);
    }
    assert.equal(await a3.receivedWithin(isPush("block"), 200), false);
    assert.deepEqual(await blocklist(a2), [BOB]);
    // bob, who saw alice's presence, gets unavailable from each of her resources
    for (const c of [a1, a2, a3]) await b.waitFor((s) => s.is("presence") && s.attrs.from === c.jid && s.attrs.type === "unavailable");

    // ---- inbound (§3.5) ----
    await b.send(xml("message", { to: bare(a1.jid), type: "chat", id: "in1" }, xml("body", {}, "hello?")));
    const err = await b.waitFor((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === "in1");
    assert.equal(condition(err), "service-unavailable");
    await b.send(xml("message", { to: a2.jid, type: "chat", id: "in2" }, xml("body", {}, "to a full JID")));
    assert.equal(condition(await b.waitFor((s) => s.attrs.type === "error" && s.attrs.id === "in2")), "service-unavailable");
    await assert.rejects(b.iq(xml("iq", { type: "get", to: a1.jid }, xml("ping", { xmlns: "urn:xmpp:ping" }))), (e: Error & { condition?: string }) => {
      assert.equal(e.condition, "service-unavailable");
      return true;
    });
    // presence from bob (broadcast and directed) is dropped without an answer
    await b.send(xml("presence", {}, xml("status", {}, "busy")));
    await b.send(xml("presence", { to: a1.jid }, xml("status", {}, "directed")));
    const fromBob = (s: XmlElement) => s.is("presence") && bare(s.attrs.from ?? "") === BOB && ["busy", "directed"].includes(s.getChildText("status") ?? "");
    for (const c of [a1, a2]) assert.equal(await c.receivedWithin(fromBob, 300), false);
    assert.equal(await b.receivedWithin((s) => s.is("presence") && s.attrs.type === "error", 100), false);
    for (const c of [a1, a2, a3]) assert.equal(await c.receivedWithin(isBody("hello?"), 50), false);

    // ---- outbound (§3.6): not-acceptable with <blocked/> ----
    await a1.send(xml("message", { to: BOB, type: "chat", id: "out1" }, xml("body", {}, "can you hear me")));
    const out = await a1.waitFor((s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === "out1");
    assert.equal(condition(out), "not-acceptable");
    assert.ok(out.getChild("error")!.getChild("blocked", NS_ERRORS));
    assert.equal(out.attrs.from, BOB);
    assert.equal(await b.receivedWithin(isBody("can you hear me"), 200), false);
    await assert.rejects(a1.iq(xml("iq", { type: "get", to: b.jid }, xml("ping", { xmlns: "urn:xmpp:ping" }))), (e: Error & { condition?: string }) => {
      assert.equal(e.condition, "not-acceptable");
      return true;
    });
    // alice's own presence changes no longer reach bob
    await a1.send(xml("presence", {}, xml("show", {}, "away")));
    assert.equal(await b.receivedWithin((s) => s.is("presence") && s.attrs.from === a1.jid && s.getChildText("show") === "away", 300), false);

    // ---- unblock (§3.4): pushes, presence both ways again, delivery restored ----
    await unblock(a2, BOB);
    for (const c of [a1, a2]) {
      const push = await c.waitFor(isPush("unblock"));
      assert.deepEqual(pushItems(push, "unblock"), [BOB]);
      await ack(c, push);
    }
    assert.deepEqual(await blocklist(a1), []);
    // bob gets alice's current presence; alice's resources learn bob's (probe answered)
    const back = await b.waitFor((s) => s.is("presence") && s.attrs.from === a1.jid && s.attrs.type === undefined && s.getChildText("show") === "away");
    assert.ok(back);
    await a2.waitFor((s) => s.is("presence") && s.attrs.from === b.jid && s.getChildText("status") === "busy");
    await b.send(xml("message", { to: bare(a1.jid), type: "chat" }, xml("body", {}, "there you are")));
    await a1.waitFor(isBody("there you are"));
    await a1.send(xml("message", { to: BOB, type: "chat" }, xml("body", {}, "yes")));
    await b.waitFor(isBody("yes"));
  });

  it("blocks a whole domain and unblocks all at once (XEP-0191 §3.4, JID matching)", async () => {
    const c = await connect("carol", "pc", false);
    assert.deepEqual(await blocklist(c), []);
    await block(c, d(), `nobody@elsewhere.example`);
    await c.waitFor(isPush("block"));
    const e = await connect("erin", "pc");
    await e.send(xml("message", { to: `carol@${d()}`, type: "chat", id: "dom" }, xml("body", {}, "via domain")));
    assert.equal(condition(await e.waitFor((s) => s.attrs.type === "error" && s.attrs.id === "dom")), "service-unavailable");
    // her own server still answers her (a user cannot lock herself out)
    const ping = await c.iq(xml("iq", { type: "get", to: d() }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(ping.attrs.type, "result");
    await unblock(c);
    const push = await c.waitFor(isPush("unblock"));
    assert.deepEqual(pushItems(push, "unblock"), []);
    assert.deepEqual(await blocklist(c), []);
    await e.send(xml("message", { to: c.jid, type: "chat" }, xml("body", {}, "through again")));
    await c.waitFor(isBody("through again"));
  });

  it("keeps blocked senders' messages out of offline storage", async () => {
    const dv = await connect("dave", "pc", false);
    await block(dv, `erin@${d()}`);
    await dv.close();
    const e = await connect("erin", "again");
    await e.send(xml("message", { to: `dave@${d()}`, type: "chat", id: "off" }, xml("body", {}, "while away")));
    assert.equal(condition(await e.waitFor((s) => s.attrs.type === "error" && s.attrs.id === "off")), "service-unavailable");
    const r = await server.core.storage.archive("offline").query(`dave@${d()}`, { limit: 0 });
    assert.equal(r.count, 0);
  });

  it("answers malformed requests (XEP-0191 §3.3, RFC 6120 §8.3.3)", async () => {
    const c = await connect("erin", "errors", false);
    const bad = async (payload: XmlElement, cond: string, to?: string) => {
      await assert.rejects(c.iq(xml("iq", { type: payload.name === "blocklist" ? "get" : "set", ...(to ? { to } : {}) }, payload)), (e: Error & { condition?: string }) => {
        assert.equal(e.condition, cond);
        return true;
      });
    };
    await bad(xml("block", { xmlns: NS_BLOCKING }), "bad-request");
    await bad(xml("block", { xmlns: NS_BLOCKING }, xml("item", { jid: "a@b@c" })), "jid-malformed");
    await bad(xml("block", { xmlns: NS_BLOCKING }, xml("item", {})), "bad-request");
    // someone else's blocklist is not for erin
    await bad(xml("blocklist", { xmlns: NS_BLOCKING }), "forbidden", `carol@${d()}`);
    assert.deepEqual(await blocklist(c), []);
  });

  it("forgets the blocklist with the account", async () => {
    await server.createAccount("gone", "gonepass");
    const g = await connectClient(server, "gone", "gonepass");
    open.push(g);
    await block(g, `alice@${d()}`);
    assert.ok((await server.core.storage.dumpOwner(`gone@${d()}`, "blocklist")).length > 0);
    await server.core.accounts.delete(jid("gone", d()));
    assert.equal(await server.core.storage.countMentions(`gone@${d()}`), 0);
  });
});
