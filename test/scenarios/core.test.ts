// Scenario tests of the core over real sockets: registration, every SASL mechanism, messages
// between resources, server info, and hostile input — each answered with the error RFC 6120
// names while another client keeps chatting.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient } from "../helpers/client.js";
import { RawConnection, streamErrorCondition } from "../helpers/raw.js";

const NS_REGISTER = "jabber:iq:register";

async function register(port: number, user: string, password: string): Promise<string> {
  const c = await RawConnection.connect(port);
  await c.open();
  await c.starttls();
  c.write(`<iq type='set' id='reg1'><query xmlns='${NS_REGISTER}'><username>${user}</username><password>${password}</password></query></iq>`);
  const r = await c.expect(/<iq[^>]*id="reg1"[\s\S]*?(\/>|<\/iq>)/);
  c.end();
  return r;
}

/** A message from one client reaches another (proves the server still serves others). */
async function chatWorks(a: TestClient, b: TestClient): Promise<void> {
  const body = "still here " + Math.random();
  await a.send(xml("message", { to: b.jid.split("/")[0], type: "chat" }, xml("body", {}, body)));
  await b.waitFor((s) => s.is("message") && s.getChildText("body") === body);
}

describe("core scenarios", () => {
  let server: TestServer;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    server = await startTestServer();
    await server.createAccount("alice", "alicepass");
    await server.createAccount("bob", "bobpass1");
    alice = await connectClient(server, "alice", "alicepass", { resource: "laptop" });
    bob = await connectClient(server, "bob", "bobpass1", { resource: "phone" });
    await alice.send(xml("presence"));
    await bob.send(xml("presence"));
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await server?.stop();
  });

  describe("registration (XEP-0077)", () => {
    it("registers over TLS and refuses a duplicate with conflict", async () => {
      const ok = await register(server.port, "carol", "carolpass");
      assert.match(ok, /type="result"/);
      const dup = await register(server.port, "carol", "other-pass");
      assert.match(dup, /type="error"/);
      assert.match(dup, /<conflict /);
      const c = await connectClient(server, "carol", "carolpass");
      assert.match(c.jid, /^carol@localhost\//);
      await c.close();
    });

    it("refuses missing fields with not-acceptable and a bad user name with jid-malformed", async () => {
      assert.match(await register(server.port, "dave", ""), /<not-acceptable /);
      assert.match(await register(server.port, "da ve", "davepass"), /<jid-malformed /);
    });

    it("offers no registration and no SASL before STARTTLS, and refuses an early IQ", async () => {
      const c = await RawConnection.connect(server.port);
      const features = await c.open();
      assert.match(features, /<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required\/><\/starttls>/);
      assert.doesNotMatch(features, /mechanisms/);
      c.write(`<iq type='get' id='r'><query xmlns='${NS_REGISTER}'/></iq>`);
      const err = await c.expect(/<\/stream:stream>/);
      assert.equal(streamErrorCondition(err), "not-authorized");
      await c.waitClosed();
    });

    it("changes the password: the old one stops working, the new one works", async () => {
      await server.createAccount("erin", "erinpass");
      const e = await connectClient(server, "erin", "erinpass");
      await e.iq(xml("iq", { type: "set", to: "localhost" }, xml("query", { xmlns: NS_REGISTER }, xml("username", {}, "erin"), xml("password", {}, "newerinpass"))));
      await e.close();
      await assert.rejects(connectClient(server, "erin", "erinpass"));
      const again = await connectClient(server, "erin", "newerinpass");
      await again.close();
    });

    it("removes the account: the session ends and logging in fails", async () => {
      await server.createAccount("frank", "frankpass");
      const f = await connectClient(server, "frank", "frankpass");
      // @xmpp/client reports a stream closed by the server as status "disconnect"
      const offline = new Promise<void>((resolve) => f.xmpp.on("status", (s: string) => s === "disconnect" && resolve()));
      // the stream ends before the stores are purged: wait for the purge too
      const deleted = new Promise<void>((resolve) => {
        const off = server.core.events.on("account/deleted", () => {
          off();
          resolve();
        });
      });
      await f.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_REGISTER }, xml("remove"))));
      await offline;
      await deleted;
      assert.equal(await server.core.accounts.exists((await import("../../src/jid/jid.js")).parseJid("frank@localhost")), false);
      await assert.rejects(connectClient(server, "frank", "frankpass"));
    });
  });

  describe("authentication (RFC 6120 §6)", () => {
    for (const mech of ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"] as const) {
      it(`logs in with ${mech}`, async () => {
        const c = await RawConnection.connect(server.port);
        await c.open();
        const features = await c.starttls();
        assert.match(features, new RegExp(`<mechanism>${mech}</mechanism>`));
        // XEP-0440: the channel-binding types are announced (TLS 1.3 here: tls-exporter too)
        assert.match(features, /<sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0"><channel-binding type="tls-exporter"\/><channel-binding type="tls-server-end-point"\/><\/sasl-channel-binding>/);
        assert.equal(await c.scram(mech, "alice", "alicepass"), "success");
        assert.match(await c.bind("raw"), /^alice@localhost\/raw$/);
        c.end();
      });
    }

    it("logs in with SCRAM-SHA-256-PLUS using tls-server-end-point over Direct TLS", async () => {
      const c = await RawConnection.connect(server.directTlsPort, { directTls: true });
      const features = await c.open();
      assert.doesNotMatch(features, /starttls/);
      assert.equal(await c.scram("SCRAM-SHA-256-PLUS", "alice", "alicepass", "tls-server-end-point"), "success");
      c.end();
    });

    it("logs in with PLAIN over TLS, and with @xmpp/client over Direct TLS", async () => {
      const c = await RawConnection.connect(server.port);
      await c.open();
      await c.starttls();
      assert.equal(await c.plain("bob", "bobpass1"), "success");
      c.end();
      const d = await connectClient(server, "bob", "bobpass1", { directTls: true, resource: "tls" });
      assert.equal(d.jid, "bob@localhost/tls");
      await d.close();
    });

    it("answers a wrong password and an unknown user alike with not-authorized", async () => {
      const c = await RawConnection.connect(server.port);
      await c.open();
      await c.starttls();
      const wrong = await c.scram("SCRAM-SHA-256", "alice", "nope");
      const unknown = await c.scram("SCRAM-SHA-256", "nobody", "nope");
      assert.match(wrong, /<not-authorized\/>/);
      assert.match(unknown, /<not-authorized\/>/);
      c.end();
    });
  });

  describe("messages (RFC 6121 §8)", () => {
    it("delivers to a bare JID on every available resource and to one full JID only", async () => {
      const bob2 = await connectClient(server, "bob", "bobpass1", { resource: "desk" });
      await bob2.send(xml("presence"));
      await bob.waitFor((s) => s.is("presence") && s.attrs.from === "bob@localhost/desk").catch(() => undefined);
      await alice.send(xml("message", { to: "bob@localhost", type: "chat", id: "m1" }, xml("body", {}, "to both")));
      const m1 = await bob.waitFor((s) => s.attrs.id === "m1");
      const m2 = await bob2.waitFor((s) => s.attrs.id === "m1");
      assert.equal(m1.attrs.from, alice.jid);
      assert.equal(m2.getChildText("body"), "to both");
      await alice.send(xml("message", { to: "bob@localhost/desk", type: "chat", id: "m2" }, xml("body", {}, "desk only")));
      await bob2.waitFor((s) => s.attrs.id === "m2");
      assert.equal(await bob.receivedWithin((s) => s.attrs.id === "m2", 300), false);
      await bob2.close();
    });

    it("reaches three resources, and bounces a message to an unknown account", async () => {
      const a2 = await connectClient(server, "alice", "alicepass", { resource: "tablet" });
      await a2.send(xml("presence"));
      const b2 = await connectClient(server, "bob", "bobpass1", { resource: "watch" });
      await b2.send(xml("presence"));
      await new Promise((r) => setTimeout(r, 100));
      await bob.send(xml("message", { to: "alice@localhost", type: "chat", id: "m3" }, xml("body", {}, "hi all")));
      await alice.waitFor((s) => s.attrs.id === "m3");
      await a2.waitFor((s) => s.attrs.id === "m3");
      await b2.send(xml("message", { to: "nobody@localhost", type: "chat", id: "m4" }, xml("body", {}, "anyone?")));
      const err = await b2.waitFor((s) => s.attrs.id === "m4");
      assert.equal(err.attrs.type, "error");
      assert.ok(err.getChild("error")?.getChild("service-unavailable"));
      await a2.close();
      await b2.close();
    });

    it("answers an IQ to an unknown namespace with service-unavailable", async () => {
      await assert.rejects(alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "urn:example:nothing" }))), /service-unavailable/);
    });
  });

  describe("server information", () => {
    it("lists features in disco#info and answers ping, version (without OS) and time", async () => {
      const info = await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
      const features = info.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
      for (const f of ["urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", "http://jabber.org/protocol/disco#info", "jabber:iq:register"]) {
        assert.ok(features.includes(f), `missing ${f}`);
      }
      await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
      const v = await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "jabber:iq:version" })));
      assert.equal(v.getChild("query")!.getChildText("name"), "Warbler");
      assert.equal(v.getChild("query")!.getChild("os"), undefined);
      const t = await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("time", { xmlns: "urn:xmpp:time" })));
      assert.match(t.getChild("time")!.getChildText("utc") ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it("answers a ping without 'to' on the account's behalf, but not a ping to another account", async () => {
      // RFC 6120 §10.3.3: no 'to' means the sender's own account; profanity's /ping does this
      await alice.send(xml("iq", { type: "get", id: "ping-self" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
      const own = await alice.waitFor((s) => s.is("iq") && s.attrs.id === "ping-self");
      assert.equal(own.attrs.type, "result");
      // PRIVACY: another account's bare JID answers like a missing account
      await alice.send(xml("iq", { type: "get", id: "ping-bob", to: "bob@localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
      const other = await alice.waitFor((s) => s.is("iq") && s.attrs.id === "ping-bob");
      assert.equal(other.attrs.type, "error");
      assert.ok(other.getChild("error")?.getChild("service-unavailable"));
    });
  });

  describe("hostile input (RFC 6120 §4.9, §11)", () => {
    const cases: [string, string, string][] = [
      ["malformed XML", "<message><body>x</message>", "not-well-formed"],
      ["a DTD", "<!DOCTYPE foo [<!ELEMENT foo ANY>]>", "restricted-xml"],
      ["a comment", "<!-- hello -->", "restricted-xml"],
      ["a processing instruction", "<?evil stuff?>", "restricted-xml"],
      ["a stanza before authentication", "<message to='bob@localhost'><body>x</body></message>", "not-authorized"],
    ];
    for (const [what, payload, condition] of cases) {
      it(`answers ${what} with <${condition}/> and keeps serving others`, async () => {
        const c = await RawConnection.connect(server.port);
        await c.open();
        c.write(payload);
        const out = await c.expect(/<\/stream:stream>/);
        assert.equal(streamErrorCondition(out), condition);
        await c.waitClosed();
        await chatWorks(alice, bob);
      });
    }

    it("refuses a billion-laughs document with <restricted-xml/>", async () => {
      const c = await RawConnection.connect(server.port);
      let doc = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">`;
      for (let i = 1; i < 10; i++) doc += `<!ENTITY lol${i} "${`&lol${i === 1 ? "" : i - 1};`.repeat(10)}">`;
      doc += `]><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>&lol9;`;
      c.write(doc);
      const out = await c.expect(/<\/stream:stream>/);
      assert.equal(streamErrorCondition(out), "restricted-xml");
      await c.waitClosed();
      await chatWorks(alice, bob);
    });

    it("closes an authenticated stream that sends an oversized stanza with <policy-violation/>", async () => {
      const { conn } = await RawConnection.login(server.port, "alice", "alicepass", "big");
      conn.write(`<message to='bob@localhost'><body>${"x".repeat(300 * 1024)}</body></message>`);
      const out = await conn.expect(/<\/stream:stream>/);
      assert.equal(streamErrorCondition(out), "policy-violation");
      await conn.waitClosed();
      await chatWorks(bob, alice);
    });

    it("checks the stream header: namespace, version and host", async () => {
      const bad: [string, string][] = [
        [`<stream:stream to='localhost' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`, "invalid-namespace"],
        [`<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='urn:wrong' version='1.0'>`, "invalid-namespace"],
        [`<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`, "unsupported-version"],
        [`<stream:stream to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`, "host-unknown"],
      ];
      for (const [header, condition] of bad) {
        const c = await RawConnection.connect(server.port);
        c.write(header);
        const out = await c.expect(/<\/stream:stream>/);
        assert.equal(streamErrorCondition(out), condition, header);
        await c.waitClosed();
      }
    });

    it("refuses a forged 'from' with <invalid-from/>", async () => {
      const { conn } = await RawConnection.login(server.port, "bob", "bobpass1", "forger");
      conn.write(`<message from='alice@localhost/laptop' to='bob@localhost'><body>forged</body></message>`);
      const out = await conn.expect(/<\/stream:stream>/);
      assert.equal(streamErrorCondition(out), "invalid-from");
    });

  });

  describe("sessions (RFC 6120 §7)", () => {
    it("replaces an older session that binds the same resource with <conflict/>", async () => {
      const first = await RawConnection.login(server.port, "bob", "bobpass1", "same");
      const second = await RawConnection.login(server.port, "bob", "bobpass1", "same");
      assert.equal(second.jid, "bob@localhost/same");
      const out = await first.conn.expect(/<\/stream:stream>/);
      assert.equal(streamErrorCondition(out), "conflict");
      second.conn.end();
    });

    it("generates a resource when the client asks for none", async () => {
      const c = await RawConnection.connect(server.port);
      await c.open();
      await c.starttls();
      await c.scram("SCRAM-SHA-1", "alice", "alicepass");
      assert.match(await c.bind(), /^alice@localhost\/[A-Za-z0-9_-]+$/);
      c.end();
    });
  });
});

describe("shutdown", () => {
  it("sends <system-shutdown/> to every stream on stop", async () => {
    const server = await startTestServer();
    await server.createAccount("zed", "zedpass1");
    const { conn } = await RawConnection.login(server.port, "zed", "zedpass1");
    const idle = await RawConnection.connect(server.port);
    await idle.open();
    await server.stop();
    assert.equal(streamErrorCondition(await conn.expect(/<\/stream:stream>/)), "system-shutdown");
    assert.equal(streamErrorCondition(await idle.expect(/<\/stream:stream>/)), "system-shutdown");
  });
});

describe("login throttling (RFC 6120 §6.4.5)", () => {
  it("throttles a flood of failed logins from one address, without revealing accounts, while others chat", async () => {
    const server = await startTestServer({ auth: { failedLogins: { max: 3, windowSeconds: 60 }, exemptLoopback: false } });
    try {
      await server.createAccount("alice", "alicepass");
      await server.createAccount("bob", "bobpass1");
      const alice = await connectClient(server, "alice", "alicepass");
      const bob = await connectClient(server, "bob", "bobpass1");
      await alice.send(xml("presence"));
      await bob.send(xml("presence"));
      const c = await RawConnection.connect(server.port);
      await c.open();
      await c.starttls();
      const results: string[] = [];
      for (let i = 0; i < 5; i++) results.push(await c.scram("SCRAM-SHA-256", i % 2 ? "alice" : "ghost", "wrong" + i));
      assert.match(results[0]!, /<not-authorized\/>/);
      assert.match(results[1]!, /<not-authorized\/>/);
      assert.match(results[2]!, /<not-authorized\/>/);
      assert.match(results[3]!, /temporary-auth-failure/);
      assert.match(results[4]!, /temporary-auth-failure/);
      // even the right password is refused while the address is throttled
      assert.match(await c.scram("SCRAM-SHA-256", "alice", "alicepass"), /temporary-auth-failure/);
      c.end();
      await chatWorks(alice, bob);
      await alice.close();
      await bob.close();
    } finally {
      await server.stop();
    }
  });
});

describe("registration modes (XEP-0077, XEP-0401)", () => {
  it("closed: no registration feature, and a registration attempt gets not-allowed", async () => {
    const server = await startTestServer({ registration: { mode: "closed" } });
    try {
      const c = await RawConnection.connect(server.port);
      await c.open();
      const features = await c.starttls();
      assert.doesNotMatch(features, /iq-register/);
      c.write(`<iq type='set' id='reg1'><query xmlns='${NS_REGISTER}'><username>x</username><password>xpass</password></query></iq>`);
      assert.match(await c.expect(/<\/iq>/), /<not-allowed /);
      c.end();
    } finally {
      await server.stop();
    }
  });

  it("invite: registration needs a valid pre-auth token, which works once", async () => {
    const server = await startTestServer({ registration: { mode: "invite" } });
    try {
      const reg = server.core.service<{ createInvite(host: string): Promise<string> }>("register")!;
      const token = await reg.createInvite("localhost");
      const attempt = async (tok: string | undefined, user: string) => {
        const c = await RawConnection.connect(server.port);
        await c.open();
        const features = await c.starttls();
        assert.match(features, /<register xmlns="urn:xmpp:ibr-token:0"\/>/);
        if (tok !== undefined) {
          c.write(`<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='${tok}'/></iq>`);
          const r = await c.expect(/<iq[^>]*id="pa"[\s\S]*?(\/>|<\/iq>)/);
          if (!/type="result"/.test(r)) {
            c.end();
            return r;
          }
        }
        c.write(`<iq type='set' id='reg1'><query xmlns='${NS_REGISTER}'><username>${user}</username><password>invitedpass</password></query></iq>`);
        const r = await c.expect(/<iq[^>]*id="reg1"[\s\S]*?(\/>|<\/iq>)/);
        c.end();
        return r;
      };
      assert.match(await attempt(undefined, "gina"), /<not-allowed /);
      assert.match(await attempt("not-a-valid-token", "gina"), /<item-not-found /);
      assert.match(await attempt(token, "gina"), /type="result"/);
      assert.match(await attempt(token, "hank"), /<item-not-found /); // single use
      const g = await connectClient(server, "gina", "invitedpass");
      await g.close();
    } finally {
      await server.stop();
    }
  });
});
