// XMPP over WebSocket (RFC 7395): the `xmpp` subprotocol on the HTTP(S) listeners' upgrade hook,
// one element per message, the same Session (stream logic, SASL, modules) as TCP. RFC 6455
// framing is the `ws` library's; this file only decides who may connect and carries messages.
import type http from "node:http";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { WebSocketServer, type WebSocket } from "ws";
import type { Core } from "../core/core.js";
import type { Session, Transport } from "../core/session.js";
import { errorSummary } from "../core/session.js";
import { StreamError } from "../core/errors.js";
import type { ChannelBinding } from "../core/sasl/types.js";
import { channelBindingFor } from "../core/sasl/channel-binding.js";
import type { UpgradeHandler } from "./http.js";

/** RFC 7395 §3.1: the WebSocket subprotocol name registered for XMPP. */
export const XMPP_SUBPROTOCOL = "xmpp";

/** One WebSocket connection as a session's transport. */
class WebSocketTransport implements Transport {
  readonly kind = "websocket" as const;
  private session: Session | undefined;
  private cb: ChannelBinding | undefined;
  private closed = false;
  private alive = true;
  private pinger: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly secure: boolean,
    private readonly tlsSocket: TLSSocket | undefined,
  ) {}

  canStartTls(): boolean {
    return false; // RFC 7395 §3.7: TLS is the WebSocket's (wss), never STARTTLS
  }

  channelBinding(): ChannelBinding | undefined {
    // Only the TLS session Warbler terminates itself can be bound; behind a proxy there is none.
    if (!this.tlsSocket) return undefined;
    this.cb ??= channelBindingFor(this.tlsSocket);
    return this.cb;
  }

  write(data: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(data); // a string is sent as a text frame (RFC 7395 §3.2: UTF-8 text messages)
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error("STARTTLS is not available over WebSocket"));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPing();
    // 1000: normal closure, after the queued <close/> (RFC 7395 §3.6)
    this.ws.close(1000);
    // A peer that never answers the closing handshake does not keep the socket forever.
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  attach(session: Session, pingSeconds: number): void {
    this.session = session;
    this.ws.on("message", (data, isBinary) => {
      if (isBinary) {
        // RFC 7395 §3.2: XMPP messages are UTF-8 text frames
        session.streamError(new StreamError("bad-format", "Binary WebSocket messages are not XMPP"));
        return;
      }
      session.receive(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    this.ws.on("pong", () => {
      this.alive = true;
    });
    this.ws.on("close", () => this.onClose());
    this.ws.on("error", (err) => {
      // ws reports oversize messages (1009) and protocol violations here, then closes.
      session.log.debug({ err: errorSummary(err) }, "WebSocket error");
    });
    if (pingSeconds > 0) {
      // Idle keepalive: an unanswered ping means the peer (or a NAT on the way) is gone.
      this.pinger = setInterval(() => {
        if (!this.alive) {
          this.ws.terminate();
          return;
        }
        this.alive = false;
        this.ws.ping();
      }, pingSeconds * 1000);
      this.pinger.unref();
    }
  }

  private stopPing(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
  }

  private onClose(): void {
    this.closed = true;
    this.stopPing();
    this.session?.transportClosed();
  }
}

/** Refuses an upgrade with a plain HTTP status before any WebSocket exists. */
function refuse(socket: Duplex, status: number, reason: string): void {
  const body = reason + "\n";
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/**
 * The upgrade handler for the HTTP listeners: serves `websocket.path`, requires the `xmpp`
 * subprotocol and an allowed Origin, and hands each connection to a new Session.
 */
export function websocketUpgrade(core: Core): UpgradeHandler {
  const cfg = core.config.websocket;
  const wss = new WebSocketServer({
    noServer: true,
    // Messages larger than a stanza may be are refused by ws with close code 1009 (RFC 6455 §7.4.1).
    maxPayload: core.config.limits.maxStanzaSize,
    // RFC 7395 §3.1: the server selects "xmpp" when the client offers it
    handleProtocols: (protocols) => (protocols.has(XMPP_SUBPROTOCOL) ? XMPP_SUBPROTOCOL : false),
    perMessageDeflate: false, // compression over TLS leaks secrets (CRIME/BREACH-style attacks)
    clientTracking: false,
  });
  const allowed = new Set(cfg.allowedOrigins.map((o) => new URL(o).origin));
  return (req: http.IncomingMessage, socket: Duplex, head: Buffer, info: { path: string; secure: boolean }) => {
    if (!cfg.enabled || info.path !== cfg.path) return false;
    const protocols = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim());
    if (!protocols.includes(XMPP_SUBPROTOCOL)) {
      // RFC 7395 §3.1: without the xmpp subprotocol there is no XMPP stream to speak
      refuse(socket, 400, "Bad Request: the xmpp WebSocket subprotocol is required");
      return true;
    }
    // RFC 7395 §5 / RFC 6455 §10.2: the Origin check guards against pages on other sites using
    // a browser's connection; Warbler authenticates by password in the stream, never by cookie,
    // so any origin is allowed unless the administrator lists some.
    const origin = req.headers.origin;
    if (allowed.size > 0 && (origin === undefined || !allowed.has(origin))) {
      refuse(socket, 403, "Forbidden: origin not allowed");
      return true;
    }
    // wss: TLS is ours. Plain ws is served on loopback only (the listener refuses anything else):
    // it is secure only if the administrator says the proxy in front terminates TLS.
    const secure = info.secure || cfg.trustProxyTls;
    const tlsSocket = socket instanceof TLSSocket ? socket : undefined;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const transport = new WebSocketTransport(ws, req.socket.remoteAddress ?? "unknown", secure, tlsSocket);
      transport.attach(core.openSession(transport), cfg.pingIntervalSeconds);
    });
    return true;
  };
}
