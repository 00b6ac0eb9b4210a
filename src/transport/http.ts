// The HTTP(S) listener: one server for every module route (file upload, host-meta, the privacy
// page, metrics) and the WebSocket upgrade (RFC 7395). HTTPS uses the hosts' certificates with SNI;
// plain HTTP is for a reverse proxy on loopback only. Paths are checked once here (no traversal).
import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import type { Core } from "../core/core.js";
import { HttpError, type HttpRequest, type HttpScope } from "../core/http.js";
import { errorSummary } from "../core/session.js";
import type { TlsProvider, Listener } from "./tcp.js";

/** Takes over an upgraded connection (WebSocket); returns false when it does not serve `path`. */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer, info: { path: string; secure: boolean }) => boolean;

export interface HttpListenOptions {
  host: string;
  port: number;
  /** HTTPS with the hosts' certificates, or plain HTTP (loopback, behind a proxy). */
  tls: boolean;
  upgrade?: UpgradeHandler;
  /** Which routes this listener serves (default "public"; the metrics listener serves "metrics" only). */
  scope?: HttpScope;
}

/** Headers every response carries: no MIME sniffing, no referrer leaking the URL of a file. */
const BASE_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/**
 * The decoded path of a request target, or undefined when it is unsafe: "." or ".." segments,
 * encoded slashes or backslashes, NUL, or undecodable escapes (RFC 3986 §3.3; OWASP path traversal).
 */
export function safePath(rawPath: string): string | undefined {
  if (!rawPath.startsWith("/")) return undefined;
  if (/%2f|%5c|%00/i.test(rawPath) || rawPath.includes("\\")) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0")) return undefined;
  for (const seg of decoded.split("/")) if (seg === "." || seg === "..") return undefined;
  return decoded;
}

function send(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(text + "\n");
  res.writeHead(status, { ...BASE_HEADERS, "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(body.length), ...headers });
  res.end(body);
}

/** Starts one HTTP or HTTPS listener serving the core's routes. */
export async function listenHttp(core: Core, tlsProvider: TlsProvider, opts: HttpListenOptions): Promise<Listener> {
  const log = core.log.child({ listener: opts.scope === "metrics" ? "metrics" : opts.tls ? "https" : "http" });
  const cfg = core.config.http;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const rawTarget = req.url ?? "/";
    const q = rawTarget.indexOf("?");
    const path = safePath(q >= 0 ? rawTarget.slice(0, q) : rawTarget);
    if (path === undefined) return send(res, 400, "bad request");
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "").toLowerCase();
    const url = new URL(rawTarget, `${opts.tls ? "https" : "http"}://${host || "localhost"}`);
    const route = core.httpRouteFor(path, opts.scope ?? "public");
    if (!route) return send(res, 404, "not found");
    const method = req.method ?? "GET";
    if (!route.methods.includes(method)) {
      // RFC 9110 §15.5.6: 405 lists the allowed methods
      return send(res, 405, "method not allowed", { Allow: route.methods.join(", ") });
    }
    for (const [k, v] of Object.entries(BASE_HEADERS)) res.setHeader(k, v);
    const request: HttpRequest = { raw: req, method, url, path, host, remoteAddress: req.socket.remoteAddress ?? "unknown", secure: opts.tls };
    try {
      await route.handler(request, res);
    } catch (err) {
      if (err instanceof HttpError) return send(res, err.status, err.message, err.headers);
      log.error({ err: errorSummary(err), path: route.path }, "HTTP route failed");
      send(res, 500, "internal server error");
    }
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: errorSummary(err) }, "HTTP request failed");
      res.destroy();
    });
  };
  const serverOpts: http.ServerOptions = {
    requestTimeout: cfg.requestTimeoutSeconds * 1000,
    headersTimeout: Math.min(cfg.requestTimeoutSeconds, 30) * 1000,
    maxHeaderSize: 16384,
  };
  const server = opts.tls
    ? https.createServer({ ...tlsProvider.serverOptions(), ...serverOpts, ALPNProtocols: ["http/1.1"] }, onRequest)
    : http.createServer(serverOpts, onRequest);
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const rawTarget = req.url ?? "/";
    const q = rawTarget.indexOf("?");
    const path = safePath(q >= 0 ? rawTarget.slice(0, q) : rawTarget);
    if (path === undefined || !opts.upgrade?.(req, socket, head, { path, secure: opts.tls })) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    }
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  log.info({ host: opts.host, port }, "HTTP listening");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
