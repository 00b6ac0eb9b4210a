// Client-to-server TCP listeners: plain TCP with STARTTLS (RFC 6120 §5) and Direct TLS
// (XEP-0368, ALPN "xmpp-client", SNI). Sockets stay here; sessions see a Transport only.
import net from "node:net";
import tls from "node:tls";
import type { Core } from "../core/core.js";
import type { Session, Transport } from "../core/session.js";
import type { ChannelBinding } from "../core/sasl/types.js";
import { channelBindingFor } from "../core/sasl/channel-binding.js";
import { errorSummary } from "../core/session.js";

/** Certificates per served host, as TLS contexts. */
export interface TlsProvider {
  /** The context for a host, undefined when there is no certificate for it. */
  contextFor(host: string): tls.SecureContext | undefined;
  /** SNI callback choosing the context by server name (falls back to the default host). */
  sniCallback(servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void;
  /** Options for a Direct TLS server: the default certificate plus SNI. */
  serverOptions(): tls.TlsOptions;
}

/** Output waiting in the socket beyond this closes the session: a client that does not read. */
const MAX_PENDING_OUTPUT = 8 * 1024 * 1024;

class TcpTransport implements Transport {
  readonly kind = "tcp" as const;
  readonly remoteAddress: string;
  private socket: net.Socket;
  private tlsSocket: tls.TLSSocket | undefined;
  private readonly tlsProvider: TlsProvider;
  session!: Session;
  private closed = false;
  private cb: ChannelBinding | undefined;

  constructor(socket: net.Socket, tlsProvider: TlsProvider, direct: boolean) {
    this.socket = socket;
    this.tlsProvider = tlsProvider;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    if (direct) this.tlsSocket = socket as tls.TLSSocket;
  }

  get secure(): boolean {
    return this.tlsSocket !== undefined;
  }

  canStartTls(host: string): boolean {
    return !this.secure && this.tlsProvider.contextFor(host) !== undefined;
  }

  channelBinding(): ChannelBinding | undefined {
    if (!this.tlsSocket) return undefined;
    this.cb ??= channelBindingFor(this.tlsSocket);
    return this.cb;
  }

  attach(session: Session): void {
    this.session = session;
    this.listen(this.socket);
    this.socket.on("close", () => this.onClose());
  }

  private listen(sock: net.Socket): void {
    sock.on("data", (chunk: Buffer) => this.session.receive(chunk));
    sock.on("error", (err) => {
      this.session.log.debug({ err: errorSummary(err) }, "socket error");
    });
  }

  write(data: string): void {
    if (this.closed) return;
    this.socket.write(data);
    if (this.socket.writableLength > MAX_PENDING_OUTPUT) {
      this.session.log.warn("client does not read its output; closing");
      this.socket.destroy();
    }
  }

  async startTls(host: string): Promise<void> {
    const ctx = this.tlsProvider.contextFor(host);
    if (!ctx) throw new Error("no certificate for " + host);
    const raw = this.socket;
    raw.removeAllListeners("data");
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: ctx,
      SNICallback: (name, cb) => this.tlsProvider.sniCallback(name, cb),
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      secure.once("secure", () => {
        secure.off("error", onError);
        resolve();
      });
      secure.once("error", onError);
    });
    this.tlsSocket = secure;
    this.socket = secure;
    this.cb = undefined;
    this.listen(secure);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    // A peer that never closes its side does not keep the descriptor forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  private onClose(): void {
    this.closed = true;
    this.session.transportClosed();
  }
}

export interface TcpListenerOptions {
  host: string;
  port: number;
  /** Direct TLS (XEP-0368) instead of plain TCP with STARTTLS. */
  directTls: boolean;
}

/** A listening c2s socket; `close()` stops accepting. */
export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a c2s listener; resolves once it is listening. */
export async function listenC2s(core: Core, tlsProvider: TlsProvider, opts: TcpListenerOptions): Promise<Listener> {
  const onSocket = (socket: net.Socket, direct: boolean) => {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const transport = new TcpTransport(socket, tlsProvider, direct);
    transport.attach(core.openSession(transport));
  };
  let server: net.Server;
  if (opts.directTls) {
    // XEP-0368 §4: TLS first, ALPN "xmpp-client", SNI picks the certificate
    server = tls.createServer(
      { ...tlsProvider.serverOptions(), ALPNProtocols: ["xmpp-client"] },
      (socket) => onSocket(socket, true),
    );
    server.on("tlsClientError", (err) => core.log.debug({ err: errorSummary(err) }, "TLS handshake failed"));
  } else {
    server = net.createServer((socket) => onSocket(socket, false));
  }
  server.on("error", (err) => core.log.error({ err: errorSummary(err) }, "listener error"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: opts.host, port: opts.port, backlog: 1024 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  core.log.info({ port, directTls: opts.directTls }, "c2s listening");
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
