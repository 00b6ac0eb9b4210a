// A raw XMPP connection for tests that must control every byte: hostile input, STARTTLS, each
// SASL mechanism (including SCRAM-SHA-256 and -PLUS, which @xmpp/client lacks), registration.
import net from "node:net";
import tls from "node:tls";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

export class RawConnection {
  private socket: net.Socket;
  private buf = "";
  private waiters: (() => void)[] = [];
  closed = false;
  readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.attach(socket);
    socket.on("close", () => {
      this.closed = true;
      this.resolveClosed();
      this.wake();
    });
  }

  private attach(socket: net.Socket): void {
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on("error", () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number, opts: { directTls?: boolean; servername?: string; alpn?: string[] } = {}): Promise<RawConnection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = opts.directTls
        ? tls.connect({ port, host: "127.0.0.1", servername: opts.servername ?? "localhost", rejectUnauthorized: false, ALPNProtocols: opts.alpn ?? ["xmpp-client"] }, () => resolve(s))
        : net.connect({ port, host: "127.0.0.1" }, () => resolve(s));
      s.once("error", reject);
    });
    return new RawConnection(socket);
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.socket instanceof tls.TLSSocket ? this.socket : undefined;
  }

  write(s: string | Buffer): void {
    if (!this.closed) this.socket.write(s);
  }

  /** Waits until the received text matches `re`; returns the text up to and including the match and consumes it. */
  async expect(re: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.buf);
      if (m) {
        const end = m.index + m[0].length;
        const out = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        return out;
      }
      if (this.closed) throw new Error(`connection closed before ${re}; got: ${this.buf.slice(0, 500)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; got: ${this.buf.slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Everything received and not consumed yet. */
  get pending(): string {
    return this.buf;
  }

  /** Resolves when the server closes the connection (or rejects after the timeout). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await Promise.race([
      this.closedPromise,
      new Promise((_, reject) => setTimeout(() => reject(new Error("connection not closed")), timeoutMs)),
    ]);
  }

  /** Sends the stream header and waits for the features. */
  async open(domain = "localhost"): Promise<string> {
    this.write(`<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`);
    return this.expect(/<\/stream:features>|<stream:features[^>]*\/>/);
  }

  /** Negotiates STARTTLS on a plain connection and reopens the stream. */
  async starttls(domain = "localhost"): Promise<string> {
    this.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
    await this.expect(/<proceed[^>]*\/>/);
    const plain = this.socket;
    plain.removeAllListeners("data");
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, servername: domain, rejectUnauthorized: false }, () => resolve(s));
      s.once("error", reject);
    });
    this.socket = secure;
    this.buf = "";
    this.attach(secure);
    return this.open(domain);
  }

  /** SASL with a SCRAM mechanism, optionally with channel binding; returns the server's final reply. */
  async scram(mech: "SCRAM-SHA-1" | "SCRAM-SHA-256" | "SCRAM-SHA-1-PLUS" | "SCRAM-SHA-256-PLUS", user: string, password: string, cbType = "tls-exporter"): Promise<"success" | string> {
    const hash = mech.startsWith("SCRAM-SHA-256") ? "sha256" : "sha1";
    const plus = mech.endsWith("-PLUS");
    let gs2 = "n,,";
    let cbData = Buffer.alloc(0);
    if (plus) {
      const s = this.tlsSocket!;
      gs2 = `p=${cbType},,`;
      cbData =
        cbType === "tls-exporter"
          ? s.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0))
          : createHash("sha256").update(s.getPeerCertificate().raw).digest();
    }
    const cnonce = randomBytes(18).toString("base64");
    const first = `n=${user},r=${cnonce}`;
    this.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${mech}'>${Buffer.from(gs2 + first).toString("base64")}</auth>`);
    const reply = await this.expect(/<challenge[^>]*>[^<]*<\/challenge>|<failure[\s\S]*?<\/failure>/);
    if (reply.includes("<failure")) return reply;
    const serverFirst = Buffer.from(/>([^<]*)</.exec(reply)![1]!, "base64").toString();
    const attrs = Object.fromEntries(serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)]));
    const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, "base64"), Number(attrs.i), hash === "sha256" ? 32 : 20, hash);
    const clientKey = createHmac(hash, salted).update("Client Key").digest();
    const storedKey = createHash(hash).update(clientKey).digest();
    const finalNoProof = `c=${Buffer.concat([Buffer.from(gs2), cbData]).toString("base64")},r=${attrs.r}`;
    const authMessage = `${first},${serverFirst},${finalNoProof}`;
    const sig = createHmac(hash, storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!));
    this.write(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(`${finalNoProof},p=${proof.toString("base64")}`).toString("base64")}</response>`);
    const fin = await this.expect(/<success[^>]*\/>|<success[^>]*>[^<]*<\/success>|<failure[\s\S]*?<\/failure>/);
    if (fin.includes("<failure")) return fin;
    // RFC 5802 §3: verify the server signature
    const serverKey = createHmac(hash, salted).update("Server Key").digest();
    const expected = createHmac(hash, serverKey).update(authMessage).digest().toString("base64");
    const m = />([^<]*)</.exec(fin);
    const v = m ? Buffer.from(m[1]!, "base64").toString() : "";
    if (v !== `v=${expected}`) throw new Error("server signature mismatch");
    return "success";
  }

  /** SASL PLAIN. */
  async plain(user: string, password: string): Promise<"success" | string> {
    this.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString("base64")}</auth>`);
    const r = await this.expect(/<success[^>]*\/>|<success[^>]*>[^<]*<\/success>|<failure[\s\S]*?<\/failure>/);
    return r.includes("<success") ? "success" : r;
  }

  /** Restarts the stream after SASL success and binds a resource; returns the full JID. */
  async bind(resource?: string, domain = "localhost"): Promise<string> {
    await this.open(domain);
    this.write(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>${resource ? `<resource>${resource}</resource>` : ""}</bind></iq>`);
    const r = await this.expect(/<iq[^>]*id="bind1"[\s\S]*?<\/iq>/);
    const m = /<jid>([^<]+)<\/jid>/.exec(r);
    if (!m) throw new Error("bind failed: " + r);
    return m[1]!;
  }

  /** Full login over STARTTLS with SCRAM-SHA-256; returns the bound JID. */
  static async login(port: number, user: string, password: string, resource?: string): Promise<{ conn: RawConnection; jid: string }> {
    const conn = await RawConnection.connect(port);
    await conn.open();
    await conn.starttls();
    const r = await conn.scram("SCRAM-SHA-256", user, password);
    if (r !== "success") throw new Error("login failed: " + r);
    const jid = await conn.bind(resource);
    return { conn, jid };
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The defined stream error condition in `text`, if any. */
export function streamErrorCondition(text: string): string | undefined {
  const m = /<stream:error>\s*<([a-z-]+)/.exec(text);
  return m?.[1];
}
