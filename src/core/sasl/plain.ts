// Server side of SASL PLAIN, checked against the stored SCRAM keys; only over TLS.
// RFC 4616 (PLAIN; §6 security considerations), RFC 6120 §6.4, §6.5.

import { createHmac, randomBytes } from "node:crypto";
import { authzidMatches } from "./authzid.js";
import { SALT_LENGTH, verifyPassword } from "./credentials.js";
import type { SaslContext, SaslFailureCondition, SaslMechanism, SaslStep, ScramCredentials } from "./types.js";

/** Largest accepted field, in octets. RFC 4616 §2 requires accepting at least 255. */
export const MAX_PLAIN_FIELD = 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const failure = (condition: SaslFailureCondition, text?: string): SaslStep =>
  text === undefined ? { kind: "failure", condition } : { kind: "failure", condition, text };

class PlainServer implements SaslMechanism {
  readonly name = "PLAIN";
  private phase: "initial" | "waiting" | "done" = "initial";

  constructor(private readonly ctx: SaslContext & { tlsActive: boolean }) {}

  async start(initial: Buffer | undefined): Promise<SaslStep> {
    if (this.phase !== "initial") return this.abort();
    // RFC 4616 §6: the password travels in the clear, so PLAIN is refused without TLS
    // (RFC 6120 §6.5.4 encryption-required). Checked before reading any credentials.
    if (!this.ctx.tlsActive) {
      this.phase = "done";
      return failure("encryption-required");
    }
    if (initial === undefined) {
      // RFC 6120 §6.4.2: no initial response → empty challenge, the client then sends its message.
      this.phase = "waiting";
      return { kind: "challenge", data: Buffer.alloc(0) };
    }
    return this.check(initial);
  }

  async step(response: Buffer): Promise<SaslStep> {
    if (this.phase !== "waiting") return this.abort();
    return this.check(response);
  }

  private abort(): SaslStep {
    this.phase = "done";
    return failure("malformed-request", "unexpected message"); // RFC 6120 §6.5.8
  }

  private async check(data: Buffer): Promise<SaslStep> {
    this.phase = "done";
    // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
    const parts = splitNul(data);
    if (parts === undefined) return failure("malformed-request");
    const [authzidRaw, authcidRaw, passwdRaw] = parts;
    if (authcidRaw.length === 0 || passwdRaw.length === 0) return failure("malformed-request");
    if (authzidRaw.length > MAX_PLAIN_FIELD || authcidRaw.length > MAX_PLAIN_FIELD || passwdRaw.length > MAX_PLAIN_FIELD) {
      return failure("malformed-request");
    }
    let authzid: string, authcid: string, password: string;
    try {
      authzid = utf8.decode(authzidRaw);
      authcid = utf8.decode(authcidRaw);
      password = utf8.decode(passwdRaw);
    } catch {
      return failure("malformed-request", "invalid UTF-8");
    }

    let username: string | undefined;
    try {
      username = this.ctx.normalizeUsername(authcid);
    } catch {
      username = undefined;
    }
    if (username === undefined) return failure("not-authorized");
    // RFC 6120 §6.3.8: no proxy authorization; an authzid may only name the user itself.
    if (authzid !== "" && !authzidMatches(authzid, username, this.ctx)) return failure("invalid-authzid");

    const creds = await this.ctx.getCredentials(username);
    if (creds === undefined) {
      // PRIVACY: pay the same PBKDF2 cost as for a real account so response time does not
      // reveal whether the account exists.
      await verifyPassword(this.dummyCredentials(username), password);
      return failure("not-authorized");
    }
    if (!(await verifyPassword(creds, password))) return failure("not-authorized");
    // An imported account with SHA-1 keys only gains SHA-256 keys now that the password is known
    if ((!creds["SHA-1"] || !creds["SHA-256"]) && this.ctx.completeCredentials) {
      await this.ctx.completeCredentials(username, password).catch(() => {});
    }
    return { kind: "success", username };
  }

  private dummyCredentials(username: string): ScramCredentials {
    const salt = createHmac("sha256", this.ctx.fakeSaltSecret).update(username, "utf8").digest().subarray(0, SALT_LENGTH);
    const keys = () => ({ storedKey: randomBytes(20), serverKey: randomBytes(20) });
    const keys256 = () => ({ storedKey: randomBytes(32), serverKey: randomBytes(32) });
    return { salt, iterations: this.ctx.iterations, "SHA-1": keys(), "SHA-256": keys256() };
  }
}

/** Splits on exactly two NUL octets; undefined when there are fewer or more. */
function splitNul(data: Buffer): [Buffer, Buffer, Buffer] | undefined {
  const a = data.indexOf(0);
  if (a < 0) return undefined;
  const b = data.indexOf(0, a + 1);
  if (b < 0 || data.indexOf(0, b + 1) >= 0) return undefined;
  return [data.subarray(0, a), data.subarray(a + 1, b), data.subarray(b + 1)];
}

/**
 * Creates the server side of one PLAIN exchange (RFC 4616). The password is checked against the
 * stored SCRAM-SHA-256 keys with the account's own salt and iteration count. Refused with
 * `encryption-required` unless `ctx.tlsActive`. A rejected `ctx.getCredentials` rejects the step;
 * the caller should answer `temporary-auth-failure`.
 */
export function createPlain(ctx: SaslContext & { tlsActive: boolean }): SaslMechanism {
  return new PlainServer(ctx);
}
