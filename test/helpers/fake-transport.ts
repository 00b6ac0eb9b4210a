// An in-process transport for tests that drive a Session without sockets: what the server
// writes collects in `out`, and `read` waits for a pattern in it.
import type { Session, Transport } from "../../src/core/session.js";

/** The stream header a client sends to localhost (RFC 6120 §4.2). */
export const HEADER =
  "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

export class FakeTransport implements Transport {
  readonly kind = "tcp" as const;
  readonly remoteAddress = "192.0.2.1";
  out = "";
  closed = false;
  constructor(readonly secure: boolean) {}
  canStartTls(): boolean {
    return false;
  }
  channelBinding() {
    return undefined;
  }
  write(data: string): void {
    this.out += data;
  }
  async startTls(): Promise<void> {
    throw new Error("not in this test");
  }
  close(): void {
    this.closed = true;
  }
  /** Resolves once the output matches, consuming it. */
  async read(re: RegExp): Promise<string> {
    const deadline = Date.now() + 5000; // PBKDF2 runs on the thread pool: wait by time, not turns
    while (Date.now() < deadline) {
      const m = re.exec(this.out);
      if (m) {
        const s = this.out.slice(0, m.index + m[0].length);
        this.out = this.out.slice(m.index + m[0].length);
        return s;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`no ${re} in ${this.out}`);
  }
}

/** Authenticates with PLAIN (the transport must be secure) and restarts the stream, up to the features after it. */
export async function authPlain(s: Session, t: FakeTransport, user: string, password: string): Promise<void> {
  s.receive(HEADER);
  await t.read(/<\/stream:features>/);
  s.receive(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString("base64")}</auth>`);
  await t.read(/<success /);
  s.receive(HEADER);
  await t.read(/<\/stream:features>/);
}

/** Authenticates with PLAIN (the transport must be secure) and binds a resource chosen by the server. */
export async function bindPlain(s: Session, t: FakeTransport, user: string, password: string): Promise<void> {
  await authPlain(s, t, user, password);
  s.receive("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  await t.read(/<\/iq>/);
}
