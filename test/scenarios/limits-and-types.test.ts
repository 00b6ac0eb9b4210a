// Scenario tests for configurable limits (sessions per account, stanza rate), several hosts on one
// server, and RFC 6121 §8.5 delivery by message type.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient } from "../helpers/client.js";
import { RawConnection, streamErrorCondition } from "../helpers/raw.js";

describe("limits", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ limits: { maxSessionsPerAccount: 2, stanzaRatePerSecond: 20 } });
    await server.createAccount("ivy", "ivypass1");
  });
  after(async () => server?.stop());

  it("refuses a session beyond limits.maxSessionsPerAccount with resource-constraint (RFC 6120 §7.6.2.1)", async () => {
    const a = await RawConnection.login(server.port, "ivy", "ivypass1", "one");
    const b = await RawConnection.login(server.port, "ivy", "ivypass1", "two");
    const c = await RawConnection.connect(server.port);
    await c.open();
    await c.starttls();
    assert.equal(await c.scram("SCRAM-SHA-256", "ivy", "ivypass1"), "success");
    await c.open();
    c.write(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>three</resource></bind></iq>`);
    const r = await c.expect(/<\/iq>/);
    assert.match(r, /type="error"/);
    assert.match(r, /<resource-constraint /);
    for (const x of [a.conn, b.conn, c]) x.end();
  });

  it("closes a session that exceeds limits.stanzaRatePerSecond with policy-violation", async () => {
    const { conn } = await RawConnection.login(server.port, "ivy", "ivypass1", "flood");
    let burst = "";
    for (let i = 0; i < 100; i++) burst += `<iq type='get' id='p${i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`;
    conn.write(burst);
    const out = await conn.expect(/<\/stream:stream>/);
    assert.equal(streamErrorCondition(out), "policy-violation");
  });
});

describe("several hosts", () => {
  it("serves each host with its own accounts and certificate", async () => {
    const server = await startTestServer({ hosts: ["localhost", "example.test"] });
    try {
      await server.createAccount("kim", "kimpass1"); // kim@localhost
      await server.core.accounts.create((await import("../../src/jid/jid.js")).jid("kim", "example.test"), "otherpass");
      const c = await RawConnection.connect(server.directTlsPort, { directTls: true, servername: "example.test" });
      assert.match(c.tlsSocket!.getPeerCertificate().subjectaltname ?? "", /DNS:example\.test/);
      await c.open("example.test");
      assert.match(await c.scram("SCRAM-SHA-256", "kim", "kimpass1"), /not-authorized/);
      assert.equal(await c.scram("SCRAM-SHA-256", "kim", "otherpass"), "success");
      assert.equal(await c.bind("r", "example.test"), "kim@example.test/r");
      c.end();
    } finally {
      await server.stop();
    }
  });
});

describe("message types (RFC 6121 §8.5)", () => {
  let server: TestServer;
  let lee: TestClient;
  before(async () => {
    server = await startTestServer();
    await server.createAccount("lee", "leepass1");
    await server.createAccount("max", "maxpass1");
    lee = await connectClient(server, "lee", "leepass1");
    await lee.send(xml("presence"));
  });
  after(async () => {
    await lee?.close();
    await server?.stop();
  });

  it("answers chat that may not be stored, to an account with no available resource, with service-unavailable (§8.5.2.2.1)", async () => {
    await lee.send(xml("message", { to: "max@localhost", type: "chat", id: "c1" }, xml("body", {}, "are you there?"), xml("no-store", { xmlns: "urn:xmpp:hints" })));
    const err = await lee.waitFor((s) => s.attrs.id === "c1");
    assert.equal(err.attrs.type, "error");
    assert.ok(err.getChild("error")?.getChild("service-unavailable"));
  });

  it("drops a headline to an offline account silently, refuses groupchat to a bare JID", async () => {
    await lee.send(xml("message", { to: "max@localhost", type: "headline", id: "h1" }, xml("body", {}, "news")));
    assert.equal(await lee.receivedWithin((s) => s.attrs.id === "h1", 300), false);
    await lee.send(xml("message", { to: "max@localhost", type: "groupchat", id: "g1" }, xml("body", {}, "room?")));
    const err = await lee.waitFor((s) => s.attrs.id === "g1");
    assert.ok(err.getChild("error")?.getChild("service-unavailable"));
  });

  it("delivers a chat to a full JID that is gone to the bare JID's other resources (§8.5.3.2.1)", async () => {
    const max = await connectClient(server, "max", "maxpass1", { resource: "home" });
    await max.send(xml("presence"));
    await new Promise((r) => setTimeout(r, 100));
    await lee.send(xml("message", { to: "max@localhost/gone", type: "chat", id: "f1" }, xml("body", {}, "hi")));
    const m = await max.waitFor((s) => s.attrs.id === "f1");
    assert.equal(m.getChildText("body"), "hi");
    await max.close();
  });

  it("answers a message with a malformed 'to' with jid-malformed", async () => {
    await lee.send(xml("message", { to: "a@b@c", type: "chat", id: "j1" }, xml("body", {}, "x")));
    const err = await lee.waitFor((s) => s.attrs.id === "j1");
    assert.ok(err.getChild("error")?.getChild("jid-malformed"));
  });
});
