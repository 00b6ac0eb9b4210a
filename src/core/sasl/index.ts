// SASL mechanism registry: which mechanisms to offer, in preference order, and their factories.
// RFC 6120 §6.4.1 (mechanism offer), RFC 5802 / RFC 7677 (SCRAM), RFC 4616 (PLAIN).

import { createPlain } from "./plain.js";
import { createScram } from "./scram.js";
import type { SaslContext, SaslMechanism } from "./types.js";

export type * from "./types.js";
export { channelBindingFor } from "./channel-binding.js";
export { credentialsFromJson, credentialsToJson, deriveCredentials, preparePassword, verifyPassword } from "./credentials.js";
export type { ScramCredentialsJson } from "./credentials.js";
export { createPlain } from "./plain.js";
export { createScram } from "./scram.js";

/**
 * Mechanism names to offer in `<mechanisms/>`, strongest first. -PLUS variants need channel
 * binding data from TLS; PLAIN needs TLS and the `allowPlain` policy (RFC 4616 §6).
 */
export function mechanismsFor(opts: { tls: boolean; channelBindingTypes: string[]; allowPlain: boolean; sha256?: boolean }): string[] {
  const names: string[] = [];
  // sha256 false: some accounts of the host have SHA-1 keys only (imported), and a client that
  // picks the strongest mechanism offered would fail to log in to them (see Accounts.legacyHosts)
  const sha256 = opts.sha256 !== false;
  if (opts.tls && opts.channelBindingTypes.length > 0) names.push(...(sha256 ? ["SCRAM-SHA-256-PLUS"] : []), "SCRAM-SHA-1-PLUS");
  names.push(...(sha256 ? ["SCRAM-SHA-256"] : []), "SCRAM-SHA-1");
  if (opts.tls && opts.allowPlain) names.push("PLAIN");
  return names;
}

/**
 * Creates the mechanism the client selected, or undefined for an unknown name or a -PLUS
 * mechanism without channel binding on this connection (answer `invalid-mechanism`,
 * RFC 6120 §6.5.5). Callers must still check the name against what they offered, since this
 * does not know the `allowPlain` policy.
 */
export function createMechanism(name: string, ctx: SaslContext & { tlsActive: boolean }): SaslMechanism | undefined {
  const hasCb = (ctx.channelBinding?.types.length ?? 0) > 0;
  switch (name) {
    case "SCRAM-SHA-256-PLUS":
      return hasCb ? createScram("SHA-256", true, ctx) : undefined;
    case "SCRAM-SHA-1-PLUS":
      return hasCb ? createScram("SHA-1", true, ctx) : undefined;
    case "SCRAM-SHA-256":
      return createScram("SHA-256", false, ctx);
    case "SCRAM-SHA-1":
      return createScram("SHA-1", false, ctx);
    case "PLAIN":
      return createPlain(ctx);
    default:
      return undefined;
  }
}
