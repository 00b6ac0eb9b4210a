// A scenario-test client built on @xmpp/client (an independent implementation of the protocol):
// connect and log in, send stanzas, await replies and matching stanzas.
import { client, xml, type Client, type XmlElement } from "@xmpp/client";
import { WebSocket as WsWebSocket } from "ws";
import type { TestServer } from "./server.js";

// The test server's certificate is self-signed for "localhost"; the tests check TLS behaviour with
// their own raw sockets, this client only needs to get through.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

// @xmpp/websocket uses the global WebSocket, which Node 20 lacks; `ws` provides a compatible one.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WsWebSocket;

export { xml };
export type { XmlElement };

export interface TestClient {
  xmpp: Client;
  /** The bound full JID. */
  jid: string;
  /** Every stanza received so far, in order. */
  received: XmlElement[];
  send(el: XmlElement): Promise<void>;
  /** Sends an IQ and resolves its result (rejects on an error reply). */
  iq(el: XmlElement, timeoutMs?: number): Promise<XmlElement>;
  /** Resolves the first stanza (already received or future) matching `pred`. */
  waitFor(pred: (el: XmlElement) => boolean, timeoutMs?: number): Promise<XmlElement>;
  /** True if a matching stanza arrives within `ms` (for "nothing arrives" assertions). */
  receivedWithin(pred: (el: XmlElement) => boolean, ms: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  resource?: string;
  directTls?: boolean;
  /** Connect over WebSocket (RFC 7395) to the HTTPS listener instead of TCP. */
  websocket?: boolean;
}

/** Connects, authenticates (SCRAM-SHA-1 or PLAIN, as @xmpp/client chooses) and binds. */
export async function connectClient(server: TestServer, user: string, password: string, opts: ConnectOptions = {}): Promise<TestClient> {
  const service = opts.websocket
    ? `wss://127.0.0.1:${server.httpsPort}${server.config.websocket.path}`
    : opts.directTls
      ? `xmpps://127.0.0.1:${server.directTlsPort}`
      : `xmpp://127.0.0.1:${server.port}`;
  const xmpp = client({ service, domain: server.domain, username: user, password, ...(opts.resource ? { resource: opts.resource } : {}) });
  xmpp.reconnect.stop();
  const received: XmlElement[] = [];
  const waiters: { pred: (el: XmlElement) => boolean; resolve: (el: XmlElement) => void }[] = [];
  xmpp.on("stanza", (el) => {
    received.push(el);
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i]!;
      if (w.pred(el)) {
        waiters.splice(i, 1);
        w.resolve(el);
        return;
      }
    }
  });
  xmpp.on("error", () => {});
  const bound = await xmpp.start();
  const waitFor = (pred: (el: XmlElement) => boolean, timeoutMs = 5000) => {
    const already = received.find(pred);
    if (already) {
      received.splice(received.indexOf(already), 1);
      return Promise.resolve(already);
    }
    return new Promise<XmlElement>((resolve, reject) => {
      const w = {
        pred,
        resolve: (el: XmlElement) => {
          clearTimeout(t);
          received.splice(received.indexOf(el), 1);
          resolve(el);
        },
      };
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for a stanza (${bound.toString()})`));
      }, timeoutMs);
      waiters.push(w);
    });
  };
  return {
    xmpp,
    jid: bound.toString(),
    received,
    send: (el) => xmpp.send(el),
    iq: (el, timeoutMs = 5000) => xmpp.iqCaller.request(el, timeoutMs),
    waitFor,
    async receivedWithin(pred, ms) {
      try {
        await waitFor(pred, ms);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      try {
        await xmpp.stop();
      } catch {
        // already closed by the server
      }
    },
  };
}
