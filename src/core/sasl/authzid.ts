// Authorization identity policy shared by the SASL mechanisms: no proxy authorization.
// RFC 6120 §6.3.8 (authzid is a bare JID), RFC 4422 §3.4.1.

import type { SaslContext } from "./types.js";

/**
 * True when `authzid` names the authenticated user itself: either the username (compared after
 * normalization) or, when `ctx.domain` is set, the bare JID `username@domain`. Acting on behalf
 * of another entity is never allowed, so anything else is refused by the caller with
 * `invalid-authzid` (RFC 6120 §6.5.6).
 */
export function authzidMatches(authzid: string, username: string, ctx: Pick<SaslContext, "normalizeUsername" | "domain">): boolean {
  let local = authzid;
  const at = authzid.indexOf("@");
  if (at >= 0) {
    // RFC 6120 §6.3.8: the authzid is a bare JID; a domain-less comparison would let
    // "user@other.example" through.
    if (ctx.domain === undefined) return false;
    local = authzid.slice(0, at);
    const domain = authzid.slice(at + 1);
    if (domain.toLowerCase() !== ctx.domain.toLowerCase()) return false;
  }
  if (local.includes("/")) return false; // a full JID (resource) is not an authorization identity
  if (local.length === 0) return false;
  let normalized: string | undefined;
  try {
    normalized = ctx.normalizeUsername(local);
  } catch {
    return false;
  }
  return normalized !== undefined && normalized === username;
}
