// Server side of SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS (channel binding) variants.
// RFC 5802 (SCRAM), RFC 7677 (SHA-256), RFC 5929 / RFC 9266 (channel binding types), RFC 6120 §6.

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { authzidMatches } from "./authzid.js";
import { SCRAM_HASHES, decodeBase64Strict } from "./credentials.js";
import type { SaslContext, SaslFailureCondition, SaslMechanism, SaslStep, ScramHash, ScramKeys } from "./types.js";

/** Largest client message accepted; real SCRAM messages are a few hundred bytes. */
export const MAX_SCRAM_MESSAGE = 4096;

/** Options for {@link createScram}; meant for tests. */
export interface ScramOptions {
  /**
   * Produces the server's part of the nonce. Default: 24 random bytes in base64 (RFC 5802 §5.1
   * asks for a fresh, unpredictable value). Must be printable ASCII without ",".
   */
  serverNonce?: () => string;
}

type State =
  | { phase: "initial" }
  | { phase: "busy" }
  | {
      phase: "first-sent";
      username: string;
      /** False for an unknown user: the exchange runs to the end, then fails (no enumeration). */
      known: boolean;
      keys: ScramKeys;
      gs2Header: string;
      cbData: Buffer;
      clientFirstBare: string;
      serverFirst: string;
      nonce: string;
    }
  | { phase: "done" };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// RFC 5802 §7: printable = %x21-2B / %x2D-7E
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
// RFC 5802 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-")
const CB_NAME = /^[A-Za-z0-9.-]+$/;
// RFC 5802 §7: attr-val = ALPHA "=" value (value: 1*value-char; NUL and "," are excluded earlier)
const EXTENSION = /^[A-Za-z]=.+$/s;

/** Result of one step, with the state to move to (none: the exchange is over). */
interface Outcome {
  step: SaslStep;
  next?: State;
}

const failure = (condition: SaslFailureCondition, text?: string): SaslStep =>
  text === undefined ? { kind: "failure", condition } : { kind: "failure", condition, text };
const malformed = (text?: string): SaslStep => failure("malformed-request", text);
const fail = (condition: SaslFailureCondition, text?: string): Outcome => ({ step: failure(condition, text) });
const bad = (text?: string): Outcome => ({ step: malformed(text) });

/** Decodes a SCRAM saslname: "=2C" → ",", "=3D" → "="; any other "=" is an error (RFC 5802 §5.1). */
export function decodeSaslname(s: string): string | undefined {
  if (s.length === 0) return undefined;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch !== "=") {
      out += ch;
      continue;
    }
    const esc = s.slice(i + 1, i + 3);
    if (esc === "2C") out += ",";
    else if (esc === "3D") out += "=";
    else return undefined;
    i += 2;
  }
  return out;
}

function decodeMessage(data: Buffer): string | undefined {
  if (data.length === 0 || data.length > MAX_SCRAM_MESSAGE) return undefined;
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return undefined;
  }
  // RFC 5802 §7: value-safe-char and printable exclude NUL everywhere.
  return text.includes("\0") ? undefined : text;
}

function defaultServerNonce(): string {
  return randomBytes(24).toString("base64");
}

class ScramServer implements SaslMechanism {
  readonly name: string;
  private state: State = { phase: "initial" };
  private readonly node: "sha1" | "sha256";
  private readonly hashLength: number;

  constructor(
    private readonly hash: ScramHash,
    private readonly plus: boolean,
    private readonly ctx: SaslContext,
    private readonly options: ScramOptions,
  ) {
    this.name = `SCRAM-${hash}${plus ? "-PLUS" : ""}`;
    this.node = SCRAM_HASHES[hash].node;
    this.hashLength = SCRAM_HASHES[hash].length;
  }

  async start(initial: Buffer | undefined): Promise<SaslStep> {
    if (this.state.phase !== "initial") return this.abort();
    // RFC 6120 §6.4.2 / RFC 4422 §5: no initial response → empty challenge, the client goes first.
    if (initial === undefined) return { kind: "challenge", data: Buffer.alloc(0) };
    return this.run(() => this.clientFirst(initial));
  }

  async step(response: Buffer): Promise<SaslStep> {
    const s = this.state;
    if (s.phase === "initial") return this.run(() => this.clientFirst(response));
    if (s.phase === "first-sent") return this.run(() => this.clientFinal(s, response));
    return this.abort(); // RFC 6120 §6.5.8: out-of-order data
  }

  /**
   * Runs one step with the exchange marked busy: data arriving before the step settles is out of
   * order and ends the exchange. Without a `next` state (failure, success, throw) it is over.
   */
  private async run(fn: () => Promise<Outcome> | Outcome): Promise<SaslStep> {
    this.state = { phase: "busy" };
    let outcome: Outcome;
    try {
      outcome = await fn();
    } catch (err) {
      this.state = { phase: "done" };
      throw err;
    }
    if (this.state.phase !== "busy") return malformed("unexpected message"); // aborted meanwhile
    this.state = outcome.next ?? { phase: "done" };
    return outcome.step;
  }

  private abort(): SaslStep {
    this.state = { phase: "done" };
    return malformed("unexpected message");
  }

  private async clientFirst(data: Buffer): Promise<Outcome> {
    const text = decodeMessage(data);
    if (text === undefined) return bad("invalid-encoding");

    // RFC 5802 §7: gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const c1 = text.indexOf(",");
    const c2 = c1 < 0 ? -1 : text.indexOf(",", c1 + 1);
    if (c2 < 0) return bad();
    const flag = text.slice(0, c1);
    const authzField = text.slice(c1 + 1, c2);
    const gs2Header = text.slice(0, c2 + 1);
    const bare = text.slice(c2 + 1);

    let cbType: string | undefined;
    if (flag.startsWith("p=")) {
      cbType = flag.slice(2);
      if (!CB_NAME.test(cbType)) return bad();
    } else if (flag !== "n" && flag !== "y") {
      return bad();
    }

    let authzid: string | undefined;
    if (authzField !== "") {
      if (!authzField.startsWith("a=")) return bad();
      authzid = decodeSaslname(authzField.slice(2));
      if (authzid === undefined) return bad("invalid-encoding");
    }

    // RFC 5802 §7: client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    const fields = bare.split(",");
    // RFC 5802 §5.1: "m" is reserved for mandatory extensions; none is supported, so fail.
    if (fields[0]?.startsWith("m=")) return bad("extensions-not-supported");
    const [userField, nonceField, ...extensions] = fields;
    if (userField === undefined || !userField.startsWith("n=")) return bad();
    if (nonceField === undefined || !nonceField.startsWith("r=")) return bad();
    const rawUser = decodeSaslname(userField.slice(2));
    if (rawUser === undefined) return bad("invalid-username-encoding");
    const clientNonce = nonceField.slice(2);
    if (!PRINTABLE.test(clientNonce)) return bad();
    // RFC 5802 §5.1: other (optional) extensions are ignored, but must be well-formed.
    if (!extensions.every((e) => EXTENSION.test(e))) return bad();

    // Channel binding negotiation, RFC 5802 §6.
    let cbData: Buffer = Buffer.alloc(0);
    if (this.plus) {
      // A -PLUS mechanism is only meaningful with channel binding: the client must send "p=".
      if (cbType === undefined) return bad("channel binding required by -PLUS");
      const cb = this.ctx.channelBinding;
      const got = cb !== undefined && cb.types.includes(cbType) ? cb.get(cbType) : undefined;
      if (got === undefined) return fail("not-authorized", "unsupported-channel-binding-type");
      cbData = got;
    } else {
      // RFC 5802 §6: "p" with a non-PLUS mechanism contradicts the mechanism choice.
      if (cbType !== undefined) return bad("channel binding requires a -PLUS mechanism");
      // RFC 5802 §6: "y" means the client supports channel binding but believes the server does
      // not; we did offer -PLUS, so the offer was stripped on the way: a downgrade attack.
      if (flag === "y" && this.ctx.plusOffered) return fail("not-authorized", "server-does-support-channel-binding");
    }

    let username: string | undefined;
    try {
      username = this.ctx.normalizeUsername(rawUser);
    } catch {
      username = undefined;
    }
    // A name that cannot be an account is public knowledge, so failing early reveals nothing.
    if (username === undefined) return fail("not-authorized", "invalid-username-encoding");

    // RFC 6120 §6.3.8: no proxy authorization; the authzid may only name the user itself.
    if (authzid !== undefined && !authzidMatches(authzid, username, this.ctx)) return fail("invalid-authzid");

    const serverNonce = (this.options.serverNonce ?? defaultServerNonce)();
    if (!PRINTABLE.test(serverNonce)) throw new Error("SCRAM server nonce must be printable ASCII without ','");
    const nonce = clientNonce + serverNonce;

    const creds = await this.ctx.getCredentials(username);
    let salt: Buffer;
    let iterations: number;
    let keys: ScramKeys;
    // An account imported with SHA-1 keys only has no SHA-256 keys: its real salt, fake keys,
    // and the exchange fails like a wrong password (it can use SCRAM-SHA-1 or PLAIN).
    const own = creds?.[this.hash];
    if (creds !== undefined) {
      ({ salt, iterations } = creds);
      keys = own ?? { storedKey: randomBytes(this.hashLength), serverKey: randomBytes(this.hashLength) };
    } else {
      // PRIVACY: an unknown user gets a salt that is stable per name and indistinguishable from
      // a real one, and the exchange fails only after the proof, like a wrong password.
      salt = createHmac("sha256", this.ctx.fakeSaltSecret).update(username, "utf8").digest().subarray(0, 16);
      iterations = this.ctx.iterations;
      keys = { storedKey: randomBytes(this.hashLength), serverKey: randomBytes(this.hashLength) };
    }

    const serverFirst = `r=${nonce},s=${salt.toString("base64")},i=${iterations}`;
    const next: State = {
      phase: "first-sent",
      username,
      known: own !== undefined,
      keys,
      gs2Header,
      cbData,
      clientFirstBare: bare,
      serverFirst,
      nonce,
    };
    return { step: { kind: "challenge", data: Buffer.from(serverFirst, "utf8") }, next };
  }

  private clientFinal(s: Extract<State, { phase: "first-sent" }>, data: Buffer): Outcome {
    const text = decodeMessage(data);
    if (text === undefined) return bad("invalid-encoding");

    // RFC 5802 §7: client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const fields = text.split(",");
    const cbField = fields[0];
    const nonceField = fields[1];
    const proofField = fields[fields.length - 1];
    if (fields.length < 3 || cbField === undefined || nonceField === undefined || proofField === undefined) return bad();
    if (!cbField.startsWith("c=") || !nonceField.startsWith("r=") || !proofField.startsWith("p=")) return bad();
    if (!fields.slice(2, -1).every((e) => EXTENSION.test(e))) return bad();
    const cb = decodeBase64Strict(cbField.slice(2));
    const proof = decodeBase64Strict(proofField.slice(2));
    if (cb === undefined || proof === undefined) return bad("invalid-encoding");
    if (proof.length !== this.hashLength) return bad("invalid-proof");

    // RFC 5802 §5.1: the nonce must be exactly the one of this exchange.
    if (nonceField.slice(2) !== s.nonce) return fail("not-authorized", "nonce mismatch");
    // RFC 5802 §6 / §7: c= carries the gs2 header verbatim, followed by the channel binding data
    // for -PLUS (tls-exporter, RFC 9266 §2; tls-server-end-point, RFC 5929 §4).
    const expectedCb = Buffer.concat([Buffer.from(s.gs2Header, "utf8"), s.cbData]);
    if (!cb.equals(expectedCb)) return fail("not-authorized", "channel-bindings-dont-match");

    // RFC 5802 §3: AuthMessage, ClientSignature, ClientKey = ClientProof XOR ClientSignature.
    const withoutProof = text.slice(0, text.length - proofField.length - 1);
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    const clientSignature = createHmac(this.node, s.keys.storedKey).update(authMessage, "utf8").digest();
    const clientKey = Buffer.alloc(this.hashLength);
    for (let i = 0; i < this.hashLength; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    const storedKey = createHash(this.node).update(clientKey).digest();
    const proofOk = timingSafeEqual(storedKey, s.keys.storedKey);
    if (!proofOk || !s.known) return fail("not-authorized");

    const serverSignature = createHmac(this.node, s.keys.serverKey).update(authMessage, "utf8").digest();
    return { step: { kind: "success", username: s.username, data: Buffer.from(`v=${serverSignature.toString("base64")}`, "utf8") } };
  }
}

/**
 * Creates the server side of one SCRAM exchange (RFC 5802, RFC 7677) for `hash`, with channel
 * binding when `plus` is set (the connection's bindings come from `ctx.channelBinding`).
 * Failures carry a `text` with the RFC 5802 §7 server-error-value where one applies. A rejected
 * `ctx.getCredentials` rejects the step (the exchange is then over); the caller should answer
 * `temporary-auth-failure`.
 */
export function createScram(hash: ScramHash, plus: boolean, ctx: SaslContext, options: ScramOptions = {}): SaslMechanism {
  return new ScramServer(hash, plus, ctx, options);
}
