// Scenario tests for HTTP File Upload (XEP-0363) over real sockets: slot requests over XMPP, PUT
// and GET over HTTPS, quotas, URL expiry and reuse, traversal, ranges, and the files' lifecycle.
import { after, before, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";
import { x } from "../../src/xml/element.js";

const NS_UPLOAD = "urn:xmpp:http:upload:0";
const DAY = 86_400_000;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTPS request to the test server; `url` is a slot URL or a path. */
function request(srv: TestServer, url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  // a path is sent as it is (new URL() would resolve its dot segments)
  const target = url.startsWith("/") ? url : ((u) => u.pathname + u.search)(new URL(url));
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: "localhost", ...opts.headers };
    if (opts.body && !("content-length" in headers) && !("transfer-encoding" in headers)) headers["content-length"] = String(opts.body.length);
    const req = https.request(
      { host: "127.0.0.1", port: srv.httpsPort, path: target, method: opts.method ?? "GET", rejectUnauthorized: false, servername: "localhost", headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

interface SlotUrls {
  put: string;
  get: string;
}

async function requestSlot(c: TestClient, attrs: { filename: string; size: number; "content-type"?: string }): Promise<SlotUrls> {
  const res = await c.iq(xml("iq", { type: "get", to: "upload.localhost" }, xml("request", { xmlns: NS_UPLOAD, ...attrs, size: String(attrs.size) })));
  const slot = res.getChild("slot", NS_UPLOAD);
  assert.ok(slot, "a slot");
  return { put: slot.getChild("put")!.attrs.url as string, get: slot.getChild("get")!.attrs.url as string };
}

interface XmppErr {
  condition: string;
  text: string;
  application?: XmlElement;
  element: XmlElement;
}

async function slotError(c: TestClient, attrs: Record<string, string>): Promise<XmppErr> {
  try {
    await c.iq(xml("iq", { type: "get", to: "upload.localhost" }, xml("request", { xmlns: NS_UPLOAD, ...attrs })));
  } catch (err) {
    return err as XmppErr;
  }
  assert.fail("the slot request should fail");
}

async function upload(srv: TestServer, c: TestClient, body: Buffer, filename = "f.bin", type = "application/octet-stream"): Promise<SlotUrls> {
  const slot = await requestSlot(c, { filename, size: body.length, "content-type": type });
  const r = await request(srv, slot.put, { method: "PUT", body, headers: { "content-type": type } });
  assert.equal(r.status, 201, r.body.toString());
  return slot;
}

/** Waits for a condition the server reaches asynchronously (bounded, not a timing assertion). */
async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting until ${what}`);
}

describe("HTTP File Upload (XEP-0363)", () => {
  let srv: TestServer;
  let alice: TestClient;
  let uploadsDir: string;
  before(async () => {
    srv = await startTestServer();
    uploadsDir = join(srv.dataDir, "uploads");
    await srv.createAccount("alice", "alicepass");
    alice = await connectClient(srv, "alice", "alicepass");
  });
  after(async () => {
    await alice.close();
    await srv.stop();
  });

  it("is listed on the domain and announces its maximum file size (§3)", async () => {
    const items = await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items" })));
    assert.ok(items.getChild("query")!.getChildren("item").some((i) => i.attrs.jid === "upload.localhost"));
    const info = (await alice.iq(xml("iq", { type: "get", to: "upload.localhost" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })))).getChild("query")!;
    const identity = info.getChild("identity")!;
    assert.deepEqual([identity.attrs.category, identity.attrs.type], ["store", "file"]);
    assert.ok(info.getChildren("feature").some((f) => f.attrs.var === NS_UPLOAD));
    const form = info.getChild("x", "jabber:x:data")!;
    const fields = Object.fromEntries(form.getChildren("field").map((f) => [f.attrs.var, f.getChildText("value")]));
    assert.deepEqual(fields, { FORM_TYPE: NS_UPLOAD, "max-file-size": String(100 * 1024 * 1024) });
  });

  for (const [label, body] of [
    ["a small file", Buffer.from("hello, world\n")],
    ["every byte value", Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256))],
    ["10 MiB", randomBytes(10 * 1024 * 1024)],
  ] as const) {
    it(`uploads and downloads ${label} byte for byte`, async () => {
      const slot = await upload(srv, alice, body, "data.bin");
      assert.match(slot.get, new RegExp(`^https://localhost:${srv.httpsPort}/upload/[A-Za-z0-9_-]{24}/data\\.bin$`));
      assert.notEqual(slot.put, slot.get, "the GET URL does not allow uploads");
      const r = await request(srv, slot.get);
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-length"], String(body.length));
      assert.ok(r.body.equals(body), "identical bytes");
      assert.equal(r.headers["access-control-allow-origin"], "*");
      assert.equal(r.headers["x-content-type-options"], "nosniff");
      assert.match(String(r.headers["content-security-policy"]), /default-src 'none'; sandbox/);
    });
  }

  it("serves images inline and anything a browser could run as a download", async () => {
    const png = await upload(srv, alice, Buffer.from("\x89PNG fake"), "p.png", "image/png");
    const r1 = await request(srv, png.get);
    assert.equal(r1.headers["content-type"], "image/png");
    assert.match(r1.headers["content-disposition"] ?? "", /^inline; filename="p.png"/);
    for (const [name, type] of [["x.html", "text/html"], ["x.svg", "image/svg+xml"], ["x.js", "application/javascript"]] as const) {
      const s = await upload(srv, alice, Buffer.from("<script>alert(1)</script>"), name, type);
      const r = await request(srv, s.get);
      assert.equal(r.headers["content-type"], "application/octet-stream", type);
      assert.match(r.headers["content-disposition"] ?? "", /^attachment;/, type);
    }
  });

  it("keeps non-ASCII names and serves them percent-encoded", async () => {
    const s = await upload(srv, alice, Buffer.from("x"), "Überblick #1?.txt", "text/plain");
    assert.ok(s.get.endsWith("/%C3%9Cberblick%20%231%3F.txt"), s.get);
    const r = await request(srv, s.get);
    assert.equal(r.status, 200);
    assert.match(r.headers["content-disposition"] ?? "", /filename\*=UTF-8''%C3%9Cberblick%20%231%3F\.txt$/);
  });

  it("answers ranges (206), unsatisfiable ranges (416) and HEAD", async () => {
    const body = Buffer.from("0123456789abcdef");
    const s = await upload(srv, alice, body);
    const part = await request(srv, s.get, { headers: { range: "bytes=4-7" } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), "4567");
    assert.equal(part.headers["content-range"], "bytes 4-7/16");
    assert.equal(part.headers["content-length"], "4");
    const tail = await request(srv, s.get, { headers: { range: "bytes=-3" } });
    assert.equal(tail.body.toString(), "def");
    const bad = await request(srv, s.get, { headers: { range: "bytes=16-" } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers["content-range"], "bytes */16");
    const head = await request(srv, s.get, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "16");
    assert.equal(head.body.length, 0);
  });

  it("answers the CORS preflight of a web client's PUT", async () => {
    const s = await requestSlot(alice, { filename: "w.txt", size: 1 });
    const r = await request(srv, s.put, { method: "OPTIONS", headers: { origin: "https://web.example", "access-control-request-method": "PUT", "access-control-request-headers": "content-type" } });
    assert.equal(r.status, 204);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.match(r.headers["access-control-allow-methods"] ?? "", /PUT/);
    assert.match(r.headers["access-control-allow-headers"] ?? "", /Content-Type/i);
  });

  it("refuses a file over the maximum at slot time, with the maximum (§5)", async () => {
    const err = await slotError(alice, { filename: "big.mkv", size: String(100 * 1024 * 1024 + 1) });
    assert.equal(err.condition, "not-acceptable");
    assert.equal(err.element.attrs.type, "modify");
    const tooLarge = err.element.getChild("file-too-large", NS_UPLOAD);
    assert.equal(tooLarge?.getChildText("max-file-size"), String(100 * 1024 * 1024));
  });

  it("refuses bad file names and sizes with bad-request", async () => {
    // (control characters cannot travel in XML attributes; the unit tests cover them)
    for (const filename of ["", "..", "../../etc/passwd", "a/b.txt", "a\\b.txt"]) {
      assert.equal((await slotError(alice, { filename, size: "1" })).condition, "bad-request", JSON.stringify(filename));
    }
    for (const size of ["", "-1", "1.5", "ten"]) assert.equal((await slotError(alice, { filename: "a", size })).condition, "bad-request", size);
    assert.equal((await slotError(alice, { filename: "a", size: "1", "content-type": "not a type" })).condition, "bad-request");
  });

  it("refuses a PUT whose length differs from the slot (400 shorter, 413 longer, 411 missing)", async () => {
    const s1 = await requestSlot(alice, { filename: "a.bin", size: 10 });
    assert.equal((await request(srv, s1.put, { method: "PUT", body: Buffer.alloc(9) })).status, 400);
    const s2 = await requestSlot(alice, { filename: "a.bin", size: 10 });
    assert.equal((await request(srv, s2.put, { method: "PUT", body: Buffer.alloc(11) })).status, 413);
    const s3 = await requestSlot(alice, { filename: "a.bin", size: 10 });
    assert.equal((await request(srv, s3.put, { method: "PUT", body: Buffer.alloc(10), headers: { "transfer-encoding": "chunked" } })).status, 411);
    for (const s of [s1, s2]) assert.equal((await request(srv, s.get)).status, 404);
  });

  it("refuses a PUT whose Content-Type differs from the slot's (415)", async () => {
    const s = await requestSlot(alice, { filename: "p.png", size: 3, "content-type": "image/png" });
    assert.equal((await request(srv, s.put, { method: "PUT", body: Buffer.from("abc"), headers: { "content-type": "text/html" } })).status, 415);
    assert.equal((await request(srv, s.get)).status, 404);
  });

  it("refuses a reused (403), forged (403) or expired (410) PUT URL", async () => {
    const s = await upload(srv, alice, Buffer.from("once"));
    const again = await request(srv, s.put, { method: "PUT", body: Buffer.from("twic") });
    assert.equal(again.status, 403);
    assert.equal((await request(srv, s.get)).body.toString(), "once", "the file is unchanged");

    const s2 = await requestSlot(alice, { filename: "f.bin", size: 4 });
    const forged = s2.put.replace(/token=[^&]+/, "token=" + "A".repeat(43));
    assert.equal((await request(srv, forged, { method: "PUT", body: Buffer.from("evil") })).status, 403);
    assert.equal((await request(srv, s2.get, { method: "PUT", body: Buffer.from("evil") })).status, 403, "the GET URL cannot upload");
    assert.equal((await request(srv, s2.put.replace("/f.bin?", "/g.bin?"), { method: "PUT", body: Buffer.from("evil") })).status, 403, "another name");

    const s3 = await requestSlot(alice, { filename: "f.bin", size: 4 });
    const realNow = Date.now;
    const clock = mock.method(Date, "now", () => realNow() + 301_000); // past upload.slotTtlSeconds (300)
    try {
      assert.equal((await request(srv, s3.put, { method: "PUT", body: Buffer.from("late") })).status, 410);
    } finally {
      clock.mock.restore();
    }
    assert.equal((await request(srv, s3.get)).status, 404);
  });

  it("refuses traversal and malformed paths", async () => {
    const s = await upload(srv, alice, Buffer.from("t"), "t.txt", "text/plain");
    const id = new URL(s.get).pathname.split("/")[2]!;
    for (const p of ["/upload/../warbler.sqlite", "/upload/%2e%2e/%2e%2e/etc/passwd", `/upload/${id}/..%2f..%2fwarbler.sqlite`, `/upload/${id}/%2e%2e`, `/upload/${id}%00/t.txt`]) {
      assert.equal((await request(srv, p)).status, 400, p);
    }
    for (const p of [`/upload/${id}`, `/upload/${id}/`, `/upload/${id}/t.txt/x`, `/upload/${id}/other.txt`, "/upload/short/t.txt", `/upload/${id}.json/t.txt`]) {
      assert.equal((await request(srv, p)).status, 404, p);
    }
  });

  it("leaves no file and no record when the client breaks off an upload", async () => {
    const before = await readdir(uploadsDir);
    const s = await requestSlot(alice, { filename: "cut.bin", size: 1024 * 1024 });
    const u = new URL(s.put);
    const req = https.request({
      host: "127.0.0.1",
      port: srv.httpsPort,
      path: u.pathname + u.search,
      method: "PUT",
      rejectUnauthorized: false,
      servername: "localhost",
      headers: { host: "localhost", "content-length": String(1024 * 1024), "content-type": "application/octet-stream" },
    });
    req.on("error", () => {});
    req.write(randomBytes(256 * 1024));
    await until(async () => (await readdir(uploadsDir)).some((n) => n.endsWith(".tmp")), "the upload is being written");
    req.destroy();
    await until(async () => (await readdir(uploadsDir)).length === before.length, "the partial file is removed");
    assert.deepEqual((await readdir(uploadsDir)).sort(), before.sort());
    assert.equal((await request(srv, s.get)).status, 404);
    const rows = await srv.core.storage.dumpOwner("alice@localhost", "upload_files");
    const id = new URL(s.get).pathname.split("/")[2]!;
    assert.ok(!rows.some((r) => r.shape === "archive" && r.id === id));
  });

  it("only lets this server's accounts ask for slots (not-allowed, §5)", async () => {
    const replies: string[] = [];
    const realDeliver = srv.core.deliverTo.bind(srv.core);
    srv.core.deliverTo = (to, stanza) => {
      replies.push(`${to.toString()} ${stanza.attrs.type} ${stanza.getChild("error")?.elements()[0]?.name}`);
      return true;
    };
    try {
      await srv.core.route(x("iq", { type: "get", id: "r1", from: "mallory@elsewhere.example/r", to: "upload.localhost" }, x("request", { xmlns: NS_UPLOAD, filename: "a", size: "1" })));
    } finally {
      srv.core.deliverTo = realDeliver;
    }
    assert.deepEqual(replies, ["mallory@elsewhere.example/r error not-allowed"]);
  });

  it("reports uploads in the metrics without names or addresses", async () => {
    const before = await srv.core.metrics.render();
    const n = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
    const s = await upload(srv, alice, Buffer.from("metered"), "m.txt", "text/plain");
    assert.equal((await request(srv, s.get)).status, 200);
    const after = await srv.core.metrics.render();
    assert.equal(n(after, "warbler_uploads_total"), n(before, "warbler_uploads_total") + 1);
    assert.equal(n(after, "warbler_upload_bytes_total"), n(before, "warbler_upload_bytes_total") + 7);
    assert.ok(n(after, "warbler_upload_stored_files") >= 1);
    assert.match(after, /warbler_upload_downloads_total\{status="200"\} \d+/);
    assert.doesNotMatch(after, /alice|m\.txt/);
  });

  it("deletes the files after the retention period", async () => {
    const s = await upload(srv, alice, Buffer.from("old"));
    const id = new URL(s.get).pathname.split("/")[2]!;
    // the core's one retention scheduler, with its clock moved forward
    await srv.core.retentionSweep(Date.now() + 29 * DAY);
    assert.equal((await request(srv, s.get)).status, 200, "kept within the 30 days");
    const removed = await srv.core.retentionSweep(Date.now() + 31 * DAY);
    assert.ok((removed.upload_files ?? 0) >= 1);
    assert.equal((await request(srv, s.get)).status, 404);
    assert.ok(!(await readdir(uploadsDir)).some((n) => n.startsWith(id)), "the bytes are gone from disk");
    const rows = await srv.core.storage.dumpOwner("alice@localhost", "upload_files");
    assert.ok(!rows.some((r) => r.shape === "archive" && r.id === id), "and the record");
  });

  it("deletes an account's files with the account", async () => {
    await srv.createAccount("dora", "dorapass");
    const d = await connectClient(srv, "dora", "dorapass");
    const s = await upload(srv, d, Buffer.from("dora's"), "d.txt", "text/plain");
    const pending = await requestSlot(d, { filename: "later.txt", size: 5 });
    const id = new URL(s.get).pathname.split("/")[2]!;
    assert.equal((await request(srv, s.get)).status, 200);
    await srv.core.accounts.delete(jid("dora", "localhost"));
    await d.close();
    assert.equal((await request(srv, s.get)).status, 404);
    assert.ok(!(await readdir(uploadsDir)).some((n) => n.startsWith(id)), "the bytes are gone from disk");
    assert.deepEqual(await srv.core.storage.dumpOwner("dora@localhost", "upload_files"), []);
    assert.equal((await request(srv, pending.put, { method: "PUT", body: Buffer.from("later") })).status, 403, "its slots are void");
  });
});

describe("HTTP File Upload quotas (XEP-0363 §5)", () => {
  let srv: TestServer;
  let bob: TestClient;
  let carol: TestClient;
  before(async () => {
    srv = await startTestServer({ upload: { maxFileSize: 2000, quotaDailyBytes: 1000, quotaTotalBytes: 3000 } });
    await srv.createAccount("bob", "bobpass");
    await srv.createAccount("carol", "carolpass");
    bob = await connectClient(srv, "bob", "bobpass");
    carol = await connectClient(srv, "carol", "carolpass");
  });
  after(async () => {
    await bob.close();
    await carol.close();
    await srv.stop();
  });

  it("refuses beyond the daily quota with resource-constraint and the time to retry", async () => {
    const t0 = Date.now();
    await upload(srv, bob, randomBytes(600));
    const err = await slotError(bob, { filename: "b.bin", size: "600" });
    const t1 = Date.now();
    assert.equal(err.condition, "resource-constraint");
    assert.equal(err.element.attrs.type, "wait");
    const retry = err.element.getChild("retry", NS_UPLOAD);
    assert.ok(retry, "a <retry/>");
    const at = Date.parse(retry.attrs.stamp as string);
    assert.match(retry.attrs.stamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(at >= Math.floor(t0 / 1000) * 1000 + DAY && at <= t1 + DAY, "when the first upload leaves the 24 hours");
    // what still fits is granted; a file larger than the quota itself can never fit
    await requestSlot(bob, { filename: "c.bin", size: 400 });
    assert.equal((await slotError(bob, { filename: "d.bin", size: "1" })).condition, "resource-constraint", "granted slots count");
    assert.equal((await slotError(carol, { filename: "e.bin", size: "1500" })).condition, "not-acceptable");
  });

  it("refuses beyond the total quota, retrying when the oldest file expires", async () => {
    const files = srv.core.storage.archive("upload_files");
    const now = Date.now();
    await files.append("carol@localhost", { id: "old1", when: now - 3 * DAY, value: { filename: "a", size: 1400, contentType: "application/octet-stream" } });
    await files.append("carol@localhost", { id: "old2", when: now - 2 * DAY, value: { filename: "b", size: 1400, contentType: "application/octet-stream" } });
    await requestSlot(carol, { filename: "fits.bin", size: 200 });
    const err = await slotError(carol, { filename: "f.bin", size: "300" });
    assert.equal(err.condition, "resource-constraint");
    const at = Date.parse(err.element.getChild("retry", NS_UPLOAD)!.attrs.stamp as string);
    assert.equal(Math.floor(at / 1000), Math.floor((now - 3 * DAY + 30 * DAY) / 1000), "when the oldest file passes the 30 days");
  });
});
