// The web side over real sockets: XMPP over WebSocket (RFC 7395) with SCRAM and a TCP peer, bad
// WebSocket input, XEP-0156 host-meta, the privacy page following the configuration and announced
// in disco (XEP-0128), and the metrics endpoint (loopback listener only).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import http from "node:http";
import { WebSocket } from "ws";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml } from "../helpers/client.js";
import { PRIVACY_FIELD, PRIVACY_FORM_TYPE } from "../../src/modules/web/web.module.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, tls = true): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const lib = tls ? https : http;
    const req = lib.request({ host: "127.0.0.1", port, path, rejectUnauthorized: false, servername: "localhost", headers: { host: "localhost" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A raw WebSocket: collects text messages and the close code. */
function rawWs(srv: TestServer, protocols: string[] = ["xmpp"]) {
  const ws = new WebSocket(`wss://127.0.0.1:${srv.httpsPort}/xmpp-websocket`, protocols, { rejectUnauthorized: false });
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (d) => {
    messages.push(d.toString());
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  const opened = new Promise<void>((resolve, reject) => {
    ws.on("open", () => resolve());
    ws.on("error", reject);
    ws.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return {
    ws,
    messages,
    opened,
    closed,
    async waitFor(pred: (m: string) => boolean): Promise<string> {
      for (;;) {
        const m = messages.find(pred);
        if (m) return m;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

describe("XMPP over WebSocket", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    await srv.createAccount("juliet", "pass1");
    await srv.createAccount("romeo", "pass2");
  });
  after(() => srv.stop());

  it("logs in with SCRAM, binds, and exchanges messages with a TCP client", async () => {
    const web = await connectClient(srv, "juliet", "pass1", { websocket: true, resource: "web" });
    const tcp = await connectClient(srv, "romeo", "pass2");
    try {
      assert.equal(web.jid, "juliet@localhost/web");
      assert.equal(srv.core.sessionFor(srv.core.sessionsOf("juliet@localhost")[0]!.fullJid)?.transport.kind, "websocket");
      await web.send(xml("message", { to: tcp.jid, type: "chat", id: "w1" }, xml("body", {}, "from the web")));
      const got = await tcp.waitFor((el) => el.is("message") && el.getChildText("body") === "from the web");
      assert.equal(got.attrs.from, web.jid);
      await tcp.send(xml("message", { to: web.jid, type: "chat", id: "t1" }, xml("body", {}, "from tcp")));
      const back = await web.waitFor((el) => el.is("message") && el.getChildText("body") === "from tcp");
      assert.equal(back.attrs.from, tcp.jid);
    } finally {
      await web.close();
      await tcp.close();
    }
  });

  it("answers <open/> with <open/> and features carrying their namespaces, one element per message", async () => {
    const c = rawWs(srv);
    await c.opened;
    c.ws.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>`);
    const open = await c.waitFor((m) => m.startsWith("<open"));
    assert.match(open, /xmlns="urn:ietf:params:xml:ns:xmpp-framing"/);
    const features = await c.waitFor((m) => m.includes("features"));
    assert.match(features, /^<stream:features xmlns:stream="http:\/\/etherx.jabber.org\/streams">/);
    assert.match(features, /SCRAM-SHA-1/);
    c.ws.send(`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>`);
    await c.waitFor((m) => m.startsWith("<close"));
    assert.equal(await c.closed, 1000);
  });

  it("refuses an upgrade without the xmpp subprotocol", async () => {
    const c = rawWs(srv, ["chat"]);
    await assert.rejects(c.opened, /HTTP 400/);
  });

  it("answers an unframed stream header with a stream error, then <close/>", async () => {
    const c = rawWs(srv);
    await c.opened;
    c.ws.send(`<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="localhost" version="1.0">`);
    const err = await c.waitFor((m) => m.includes("stream:error"));
    assert.match(err, /xmlns:stream=/);
    assert.match(err, /not-well-formed|invalid-namespace/);
    await c.waitFor((m) => m.startsWith("<close"));
    await c.closed;
  });

  it("answers a stanza before <open/> with invalid-namespace", async () => {
    const c = rawWs(srv);
    await c.opened;
    c.ws.send(`<message to="romeo@localhost"><body>hi</body></message>`);
    const err = await c.waitFor((m) => m.includes("stream:error"));
    assert.match(err, /invalid-namespace/);
    await c.waitFor((m) => m.startsWith("<close"));
  });

  it("closes a connection whose message exceeds the stanza size limit (1009)", async () => {
    const c = rawWs(srv);
    await c.opened;
    c.ws.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>`);
    await c.waitFor((m) => m.includes("features"));
    c.ws.send(`<message><body>${"x".repeat(srv.config.limits.maxStanzaSize + 1)}</body></message>`);
    assert.equal(await c.closed, 1009);
  });
});

describe("WebSocket policies", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ http: { plain: { enabled: true } }, websocket: { allowedOrigins: ["https://chat.example.com"] } });
  });
  after(() => srv.stop());

  function connect(url: string, origin: string | undefined) {
    const ws = new WebSocket(url, ["xmpp"], { rejectUnauthorized: false, ...(origin ? { origin } : {}) });
    const messages: string[] = [];
    ws.on("message", (d) => messages.push(d.toString()));
    const opened = new Promise<void>((resolve, reject) => {
      ws.on("open", () => resolve());
      ws.on("error", reject);
      ws.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return { ws, messages, opened };
  }

  it("refuses origins outside websocket.allowedOrigins, and a missing one", async () => {
    const url = `wss://127.0.0.1:${srv.httpsPort}/xmpp-websocket`;
    await assert.rejects(connect(url, "https://evil.example").opened, /HTTP 403/);
    await assert.rejects(connect(url, undefined).opened, /HTTP 403/);
    const ok = connect(url, "https://chat.example.com");
    await ok.opened;
    ok.ws.close();
  });

  it("offers no authentication over plain ws unless the proxy is trusted to terminate TLS", async () => {
    const c = connect(`ws://127.0.0.1:${srv.httpPort}/xmpp-websocket`, "https://chat.example.com");
    await c.opened;
    c.ws.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>`);
    while (!c.messages.some((m) => m.includes("features"))) await new Promise((r) => setTimeout(r, 10));
    const features = c.messages.find((m) => m.includes("features"))!;
    assert.doesNotMatch(features, /mechanism/);
    assert.doesNotMatch(features, /starttls/);
    c.ws.close();
  });

  it("offers authentication over plain ws when websocket.trustProxyTls is set", async () => {
    const trusted = await startTestServer({ http: { plain: { enabled: true } }, websocket: { trustProxyTls: true } });
    try {
      const c = connect(`ws://127.0.0.1:${trusted.httpPort}/xmpp-websocket`, undefined);
      await c.opened;
      c.ws.send(`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost" version="1.0"/>`);
      while (!c.messages.some((m) => m.includes("features"))) await new Promise((r) => setTimeout(r, 10));
      const features = c.messages.find((m) => m.includes("features"))!;
      assert.match(features, /<mechanism>SCRAM-SHA-256<\/mechanism>/);
      assert.doesNotMatch(features, /-PLUS/); // no TLS of ours to bind to
      c.ws.close();
    } finally {
      await trusted.stop();
    }
  });
});

describe("XEP-0156 host-meta", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.stop());

  it("lists the WebSocket endpoint in XRD, with CORS", async () => {
    const r = await get(srv.httpsPort, "/.well-known/host-meta");
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.match(r.headers["content-type"] ?? "", /application\/xrd\+xml/);
    assert.match(r.body, new RegExp(`<Link rel="urn:xmpp:alt-connections:websocket" href="wss://localhost:${srv.httpsPort}/xmpp-websocket"/>`));
  });

  it("lists it in JSON, with CORS", async () => {
    const r = await get(srv.httpsPort, "/.well-known/host-meta.json");
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.deepEqual(JSON.parse(r.body), { links: [{ rel: "urn:xmpp:alt-connections:websocket", href: `wss://localhost:${srv.httpsPort}/xmpp-websocket` }] });
  });
});

describe("privacy policy page", () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    a = await startTestServer({ archive: { retentionDays: 90 } });
    b = await startTestServer({ archive: { retentionDays: 7 } });
    await a.createAccount("juliet", "pass1");
  });
  after(async () => {
    await a.stop();
    await b.stop();
  });

  it("is HTML for phones with a strict CSP, and follows the configured retention", async () => {
    const ra = await get(a.httpsPort, "/privacy");
    const rb = await get(b.httpsPort, "/privacy");
    assert.equal(ra.status, 200);
    assert.match(ra.headers["content-type"] ?? "", /text\/html/);
    assert.match(String(ra.headers["content-security-policy"]), /default-src 'none'/);
    assert.match(ra.body, /<meta name="viewport"/);
    assert.doesNotMatch(ra.body, /<script|src=|href="http/);
    assert.match(ra.body, /90 days at most/);
    assert.doesNotMatch(ra.body, /7 days at most, then deleted automatically<\/td><td data-label="in your data export">yes/);
    assert.match(rb.body, /<code>archive<\/code>/);
    assert.notEqual(ra.body, rb.body);
    assert.doesNotMatch(rb.body, /90 days at most/);
    assert.match(ra.body, /Warbler makes no backups on this server/);
  });

  it("is announced in the domain's disco#info (XEP-0128)", async () => {
    const c = await connectClient(a, "juliet", "pass1");
    try {
      const res = await c.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
      const forms = res.getChild("query")!.getChildren("x", "jabber:x:data");
      const form = forms.find((f) => f.getChildren("field").some((fl) => fl.attrs.var === "FORM_TYPE" && fl.getChildText("value") === PRIVACY_FORM_TYPE));
      assert.ok(form, "privacy form present");
      const field = form.getChildren("field").find((f) => f.attrs.var === PRIVACY_FIELD);
      assert.equal(field?.getChildText("value"), `https://localhost:${a.httpsPort}/privacy`);
    } finally {
      await c.close();
    }
  });
});

describe("metrics endpoint", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ metrics: { enabled: true } });
    await srv.createAccount("juliet", "pass1");
    await srv.createAccount("romeo", "pass2");
  });
  after(() => srv.stop());

  it("reports sessions, stanzas, errors and storage without personal data", async () => {
    const web = await connectClient(srv, "juliet", "pass1", { websocket: true });
    const tcp = await connectClient(srv, "romeo", "pass2");
    try {
      await web.send(xml("message", { to: tcp.jid, type: "chat" }, xml("body", {}, "hello")));
      await tcp.waitFor((el) => el.is("message"));
      await tcp.send(xml("message", { to: "nobody@localhost", type: "chat" }, xml("body", {}, "x")));
      await tcp.waitFor((el) => el.is("message") && el.attrs.type === "error");
      const r = await get(srv.metricsPort, "/metrics", false);
      assert.equal(r.status, 200);
      assert.match(r.headers["content-type"] ?? "", /openmetrics-text/);
      assert.match(r.body, /^warbler_sessions\{bound="true",transport="websocket"\} 1$/m);
      assert.match(r.body, /^warbler_sessions\{bound="true",transport="tcp"\} 1$/m);
      assert.match(r.body, /^warbler_stanzas_in_total\{kind="message"\} [1-9]/m);
      assert.match(r.body, /^warbler_stanza_errors_total\{condition="service-unavailable"\} 1$/m);
      assert.match(r.body, /^warbler_store_rows\{store="accounts"\} 2$/m);
      assert.match(r.body, /# EOF\n$/);
      assert.doesNotMatch(r.body, /juliet|romeo|127\.0\.0\.1/);
    } finally {
      await web.close();
      await tcp.close();
    }
  });

  it("counts failed logins and is not served on the public listener", async () => {
    await assert.rejects(connectClient(srv, "juliet", "wrong"));
    const r = await get(srv.metricsPort, "/metrics", false);
    assert.match(r.body, /^warbler_auth_failures_total\{condition="not-authorized"\} [1-9]/m);
    assert.equal((await get(srv.httpsPort, "/metrics")).status, 404);
    assert.equal((await get(srv.metricsPort, "/privacy", false)).status, 404);
  });
});
