// Stream management (XEP-0198) over real sockets: acks, resumption after a dropped connection with
// messages in flight (none lost, none duplicated), the timeout, and misuse.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml } from "../helpers/client.js";
import { RawConnection, streamErrorCondition } from "../helpers/raw.js";

const SM = "urn:xmpp:sm:3";

/** Logs in, enables resumable SM, sends presence; returns the connection and the SM id. */
async function smLogin(server: TestServer, user: string, pass: string, resource: string): Promise<{ conn: RawConnection; id: string }> {
  const { conn } = await RawConnection.login(server.port, user, pass, resource);
  conn.write(`<enable xmlns='${SM}' resume='true'/>`);
  const enabled = await conn.expect(/<enabled [^>]*\/>/);
  const id = /id="([^"]+)"/.exec(enabled)![1]!;
  assert.match(enabled, /resume="true"/);
  conn.write("<presence/>");
  await conn.expect(/<presence[^>]*from="[^"]*\/[^"]*"/); // own presence echoed: the first stanza counted
  return { conn, id };
}

let n = 0;
/** A fresh account per test, so sessions waiting for resumption never mix between tests. */
async function account(server: TestServer): Promise<string> {
  const user = `smuser${++n}`;
  await server.createAccount(user, "smpass12");
  return user;
}

function bodies(text: string): string[] {
  return [...text.matchAll(/<body>([^<]*)<\/body>/g)].map((m) => m[1]!);
}

describe("stream management (XEP-0198)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ streamManagement: { resumeTimeoutSeconds: 2 } });
    await server.createAccount("tom", "tompass1");
  });
  after(async () => server?.stop());

  it("offers SM after authentication and refuses <enable/> before binding", async () => {
    const sam = await account(server);
    const c = await RawConnection.connect(server.port);
    await c.open();
    await c.starttls();
    assert.equal(await c.scram("SCRAM-SHA-256", sam, "smpass12"), "success");
    const features = await c.open();
    assert.match(features, new RegExp(`<sm xmlns="${SM}"/>`));
    c.write(`<enable xmlns='${SM}'/>`);
    assert.match(await c.expect(/<\/failed>/), /<unexpected-request /);
    c.end();
  });

  it("answers <r/> with the count of handled stanzas", async () => {
    const { conn } = await smLogin(server, await account(server), "smpass12", "acks");
    conn.write(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='${SM}'/>`);
    // presence + ping = 2 handled
    assert.match(await conn.expect(/<a [^>]*\/>/), /h="2"/);
    conn.end();
  });

  it("resumes after a dropped connection: unacknowledged messages come again, acknowledged ones do not", async () => {
    const tom = await connectClient(server, "tom", "tompass1");
    await tom.send(xml("presence"));
    const sam = await account(server);
    const { conn, id } = await smLogin(server, sam, "smpass12", "phone");
    const text = await (async () => {
      for (let i = 1; i <= 3; i++) await tom.send(xml("message", { to: `${sam}@localhost/phone`, type: "chat" }, xml("body", {}, `m${i}`)));
      return conn.expect(/m3<\/body>[\s\S]*?<\/message>/);
    })();
    assert.deepEqual(bodies(text), ["m1", "m2", "m3"]);
    // the server asked for an ack; acknowledge the presence echo + m1 only, then lose the connection
    conn.write(`<a xmlns='${SM}' h='2'/>`);
    await new Promise((r) => setTimeout(r, 100));
    conn.destroy();
    await new Promise((r) => setTimeout(r, 100));
    await tom.send(xml("message", { to: `${sam}@localhost/phone`, type: "chat" }, xml("body", {}, "m4")));
    // the session is still there while it waits: tom gets no error
    assert.equal(await tom.receivedWithin((s) => s.attrs.type === "error", 200), false);

    const c2 = await RawConnection.connect(server.port);
    await c2.open();
    await c2.starttls();
    assert.equal(await c2.scram("SCRAM-SHA-256", sam, "smpass12"), "success");
    await c2.open();
    c2.write(`<resume xmlns='${SM}' previd='${id}' h='2'/>`);
    const resumed = await c2.expect(/<resumed [^>]*\/>[\s\S]*m4<\/body>[\s\S]*?<\/message>/);
    assert.match(resumed, /h="1"/); // sam's server handled one stanza from sam (its presence)
    assert.deepEqual(bodies(resumed), ["m2", "m3", "m4"]);
    // the session is usable: a message to tom arrives
    c2.write(`<message to='tom@localhost' type='chat'><body>back</body></message>`);
    await tom.waitFor((s) => s.getChildText("body") === "back");
    c2.write("</stream:stream>");
    await c2.waitClosed();
    await tom.close();
  });

  it("refuses to resume an unknown id and lets the client bind instead", async () => {
    const c = await RawConnection.connect(server.port);
    await c.open();
    await c.starttls();
    const sam = await account(server);
    await c.scram("SCRAM-SHA-256", sam, "smpass12");
    await c.open();
    c.write(`<resume xmlns='${SM}' previd='nope' h='0'/>`);
    assert.match(await c.expect(/<\/failed>/), /<item-not-found /);
    c.write(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
    assert.match(await c.expect(/<\/iq>/), new RegExp(`<jid>${sam}@localhost/`));
    c.end();
  });

  it("closes the stream when the client acknowledges more than was sent", async () => {
    const { conn } = await smLogin(server, await account(server), "smpass12", "liar");
    conn.write(`<a xmlns='${SM}' h='99'/>`);
    assert.equal(streamErrorCondition(await conn.expect(/<\/stream:stream>/)), "undefined-condition");
  });

  it("after the resumption timeout, unacknowledged messages go to offline storage", async () => {
    const tom = await connectClient(server, "tom", "tompass1", { resource: "t2" });
    const sam = await account(server);
    const { conn } = await smLogin(server, sam, "smpass12", "lost");
    await tom.send(xml("message", { to: `${sam}@localhost/lost`, type: "chat", id: "late" }, xml("body", {}, "where did it go")));
    await conn.expect(/where did it go/);
    conn.destroy(); // never acknowledged
    // after the 2 s timeout the message goes to offline storage: no bounce to tom
    assert.equal(await tom.receivedWithin((s) => s.attrs.id === "late" && s.attrs.type === "error", 3000), false);
    const again = await connectClient(server, sam, "smpass12", { resource: "again" });
    await again.send(xml("presence"));
    const m = await again.waitFor((s) => s.getChildText("body") === "where did it go");
    assert.ok(m.getChild("delay", "urn:xmpp:delay"), "offline delivery carries a delay");
    await again.close();
    await tom.close();
  });
});

describe("stream management at shutdown", () => {
  it("stores unacknowledged messages offline when the server stops, and delivers them after restart", async () => {
    const first = await startTestServer();
    await first.createAccount("una", "unapass1");
    await first.createAccount("vic", "vicpass1");
    const vic = await connectClient(first, "vic", "vicpass1");
    const { conn } = await smLogin(first, "una", "unapass1", "phone");
    await vic.send(xml("message", { to: "una@localhost/phone", type: "chat" }, xml("body", {}, "before the stop")));
    await conn.expect(/before the stop/);
    // una never acknowledges it; the server stops
    await vic.close();
    await first.stop({ keepData: true });
    conn.destroy();
    const second = await startTestServer({ dataDir: first.dataDir });
    try {
      const una = await connectClient(second, "una", "unapass1");
      await una.send(xml("presence"));
      const m = await una.waitFor((s) => s.getChildText("body") === "before the stop");
      assert.ok(m.getChild("delay", "urn:xmpp:delay"));
      await una.close();
    } finally {
      await second.stop();
    }
  });
});
