// The HTTP(S) listener: routing, status codes, security headers and refused traversal attempts,
// over real sockets (src/transport/http.ts).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import http from "node:http";
import { startTestServer, type TestServer } from "../helpers/server.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, path: string, opts: { method?: string; tls?: boolean; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const lib = opts.tls === false ? http : https;
    const req = lib.request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", rejectUnauthorized: false, servername: "localhost", headers: { host: "localhost" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("HTTP listener", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ http: { plain: { enabled: true } } });
    srv.core.registerHttpRoute({
      methods: ["GET"],
      path: "/test/",
      handler: (req, res) => {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(`path=${req.path} host=${req.host} secure=${req.secure}`);
      },
    });
    srv.core.registerHttpRoute({
      methods: ["GET"],
      path: "/boom",
      handler: () => {
        throw new Error("secret detail");
      },
    });
  });
  after(() => srv.stop());

  it("serves a route over HTTPS with the security headers", async () => {
    const r = await request(srv.httpsPort, "/test/a%20b");
    assert.equal(r.status, 200);
    assert.equal(r.body, "path=/test/a b host=localhost secure=true");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.equal(r.headers["referrer-policy"], "no-referrer");
  });

  it("serves plain HTTP on loopback and says so to the route", async () => {
    const r = await request(srv.httpPort, "/test/x", { tls: false });
    assert.equal(r.body, "path=/test/x host=localhost secure=false");
  });

  it("answers 404 for unknown paths and 405 with Allow for other methods", async () => {
    assert.equal((await request(srv.httpsPort, "/nothing")).status, 404);
    assert.equal((await request(srv.httpsPort, "/")).status, 404);
    const r = await request(srv.httpsPort, "/test/x", { method: "DELETE" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "GET");
  });

  it("refuses traversal attempts with 400", async () => {
    for (const p of ["/test/../etc/passwd", "/test/%2e%2e/x", "/test/..%2fx", "/test/a%00b", "/test/.", "/test/a\\..\\b", "/test/%c0%ae%c0%ae/x"]) {
      const r = await request(srv.httpsPort, p);
      assert.equal(r.status, 400, p);
    }
  });

  it("hides a route's failure behind 500 and keeps serving", async () => {
    const r = await request(srv.httpsPort, "/boom");
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.body, /secret/);
    assert.equal((await request(srv.httpsPort, "/test/ok")).status, 200);
  });

  it("refuses an upgrade nobody serves", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request({ host: "127.0.0.1", port: srv.httpsPort, path: "/not-a-websocket", rejectUnauthorized: false, headers: { Connection: "Upgrade", Upgrade: "websocket" } });
      req.on("response", (res) => resolve(res.statusCode ?? 0));
      req.on("upgrade", () => resolve(101));
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 404);
  });
});
