// Warbler as a browser sees it: headless Chromium (Debian's, driven by playwright-core) loads a
// small web client that finds the endpoint through XEP-0156 host-meta.json, connects over
// WebSocket (RFC 7395), logs in with SASL PLAIN over wss, binds and chats with a TCP client;
// and it renders the privacy page at phone width without horizontal scrolling or CSP violations.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml } from "../helpers/client.js";

const CHROMIUM = "/usr/bin/chromium";
// scripts/ensure-test-deps.sh installs Chromium; in CI its absence is a failure, not a skip.
const skip = !existsSync(CHROMIUM) && process.env.CI !== "true" ? `${CHROMIUM} is missing (apt-get install chromium, or run npm test as root)` : false;

/** The web client page: plain DOM APIs, as a browser-based XMPP client uses them. */
const CLIENT_PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>test web client</title></head>
<body><pre id="log"></pre>
<script>
const FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
let ws, inbox = [], waiters = [];
function deliver(doc) {
  inbox.push(doc);
  for (const w of waiters.splice(0)) w();
}
async function next(pred) {
  for (;;) {
    const i = inbox.findIndex(pred);
    if (i >= 0) return inbox.splice(i, 1)[0];
    await new Promise((r) => waiters.push(r));
  }
}
const isEl = (name) => (d) => d.localName === name;
function send(s) { ws.send(s); }
function open(domain) { send('<open xmlns="' + FRAMING + '" to="' + domain + '" version="1.0"/>'); }
window.login = async (domain, user, password, resource) => {
  // XEP-0156 §3: discover the WebSocket endpoint
  const meta = await (await fetch("/.well-known/host-meta.json")).json();
  const link = meta.links.find((l) => l.rel === "urn:xmpp:alt-connections:websocket");
  ws = new WebSocket(link.href.replace("//localhost:", "//127.0.0.1:"), "xmpp");
  ws.onmessage = (e) => deliver(new DOMParser().parseFromString(e.data, "text/xml").documentElement);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("ws error")); });
  if (ws.protocol !== "xmpp") throw new Error("subprotocol " + ws.protocol);
  open(domain);
  await next(isEl("open"));
  const features = await next(isEl("features"));
  const mechs = [...features.getElementsByTagName("mechanism")].map((m) => m.textContent);
  if (!mechs.includes("PLAIN")) throw new Error("no PLAIN: " + mechs);
  send('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">' + btoa("\\u0000" + user + "\\u0000" + password) + "</auth>");
  const outcome = await next((d) => d.localName === "success" || d.localName === "failure");
  if (outcome.localName !== "success") throw new Error("auth failed");
  open(domain);
  await next(isEl("open"));
  await next(isEl("features"));
  send('<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>' + resource + "</resource></bind></iq>");
  const bound = await next((d) => d.localName === "iq" && d.getAttribute("id") === "b1");
  send('<presence xmlns="jabber:client"/>');
  return bound.getElementsByTagName("jid")[0].textContent;
};
window.sendMessage = (to, body) => {
  const m = document.implementation.createDocument("jabber:client", "message", null).documentElement;
  m.setAttribute("to", to);
  m.setAttribute("type", "chat");
  const b = m.ownerDocument.createElementNS("jabber:client", "body");
  b.textContent = body;
  m.appendChild(b);
  send(new XMLSerializer().serializeToString(m));
};
window.nextMessage = async () => {
  const m = await next((d) => d.localName === "message" && d.getElementsByTagName("body").length > 0);
  return { from: m.getAttribute("from"), body: m.getElementsByTagName("body")[0].textContent, ns: m.namespaceURI };
};
window.logout = async () => {
  send('<close xmlns="' + FRAMING + '"/>');
  await next(isEl("close"));
  return await new Promise((r) => { if (ws.readyState === 3) r(ws.readyState); else ws.onclose = () => r(3); });
};
</script></body></html>`;

describe("in headless Chromium", { skip }, () => {
  let srv: TestServer;
  let browser: Browser;
  const cspViolations: string[] = [];

  before(async () => {
    srv = await startTestServer();
    await srv.createAccount("juliet", "pass1");
    await srv.createAccount("romeo", "pass2");
    // The test's own page, served by the same listener as a deployed web client would be.
    srv.core.registerHttpRoute({
      methods: ["GET"],
      path: "/test-client",
      handler: (_req, res) => {
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
        res.end(CLIENT_PAGE);
      },
    });
    // The self-signed test certificate is accepted here only (ignoreHTTPSErrors below).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--ignore-certificate-errors"] });
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  async function newPage(width = 1024): Promise<Page> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width, height: 800 } });
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") cspViolations.push(m.text());
    });
    return page;
  }

  it("connects over WebSocket, logs in, and chats with a TCP client", async () => {
    const page = await newPage();
    await page.goto(`https://127.0.0.1:${srv.httpsPort}/test-client`);
    const tcp = await connectClient(srv, "romeo", "pass2");
    try {
      const jid = await page.evaluate(() => (window as any).login("localhost", "juliet", "pass1", "browser"));
      assert.equal(jid, "juliet@localhost/browser");
      await page.evaluate((to) => (window as any).sendMessage(to, "hello from Chromium"), tcp.jid);
      const got = await tcp.waitFor((el) => el.is("message") && el.getChildText("body") === "hello from Chromium");
      assert.equal(got.attrs.from, jid);
      await tcp.send(xml("message", { to: jid, type: "chat" }, xml("body", {}, "hello, browser <&>")));
      const back = await page.evaluate(() => (window as any).nextMessage());
      assert.deepEqual(back, { from: tcp.jid, body: "hello, browser <&>", ns: "jabber:client" });
      assert.equal(await page.evaluate(() => (window as any).logout()), 3);
    } finally {
      await tcp.close();
      await page.context().close();
    }
  });

  it("shows the privacy policy at phone width, with no CSP violation and no horizontal scrolling", async () => {
    const page = await newPage(360);
    const before = cspViolations.length;
    const res = await page.goto(`https://127.0.0.1:${srv.httpsPort}/privacy`);
    assert.equal(res?.status(), 200);
    assert.match(await page.locator("h1").innerText(), /What localhost stores/);
    assert.match(await page.locator("body").innerText(), /90 days at most/);
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
    assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide on a ${clientWidth}px screen`);
    assert.deepEqual(cspViolations.slice(before), []);
    await page.context().close();
  });
});
