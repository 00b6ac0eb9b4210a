// Archiving preferences (XEP-0441): the <prefs/> element in and out, and the decision whether a
// message to or from a peer goes into the account's archive.
import { StanzaError } from "../../core/errors.js";
import { tryParseJid, type Jid } from "../../jid/jid.js";
import { x, type Element } from "../../xml/element.js";
import { NS_MAM } from "./rules.js";

export type ArchivePolicy = "always" | "roster" | "never";

/** One account's preferences, as kept in the `archive_prefs` store. */
export interface ArchivePrefs {
  default: ArchivePolicy;
  /** JIDs in prepared string form; bare ones match every resource (XEP-0441 §2.3.1). */
  always: string[];
  never: string[];
}

/** Longest always/never list we keep: prefs are read on every archived message. */
export const MAX_PREF_JIDS = 1000;

const POLICIES = new Set<string>(["always", "roster", "never"]);

/** Parses a <prefs/> set request; throws bad-request / jid-malformed / not-acceptable. */
export function parsePrefs(el: Element): ArchivePrefs {
  const dflt = el.attrs.default;
  // XEP-0441 §2.1.1: 'default' MUST be one of always, never, roster
  if (dflt === undefined || !POLICIES.has(dflt)) throw new StanzaError("bad-request", "default must be always, roster or never");
  const list = (name: string): string[] => {
    const out = new Set<string>();
    // XEP-0441 §2.1.2, §2.1.3: a missing list is an empty list
    for (const j of el.getChild(name, NS_MAM)?.getChildren("jid", NS_MAM) ?? []) {
      const parsed = tryParseJid(j.text().trim());
      if (!parsed) throw new StanzaError("jid-malformed");
      out.add(parsed.toString());
    }
    if (out.size > MAX_PREF_JIDS) throw new StanzaError("not-acceptable", `At most ${MAX_PREF_JIDS} addresses per list`);
    return [...out].sort();
  };
  const always = list("always");
  const never = new Set(list("never"));
  // PRIVACY: an address in both lists is never archived (the safer reading of a contradiction)
  return { default: dflt as ArchivePolicy, always: always.filter((j) => !never.has(j)), never: [...never] };
}

/** XEP-0441 §2.1: the <prefs/> element, both lists always present. */
export function prefsElement(p: ArchivePrefs): Element {
  return x(
    "prefs",
    { xmlns: NS_MAM, default: p.default },
    x("always", null, ...p.always.map((j) => x("jid", null, j))),
    x("never", null, ...p.never.map((j) => x("jid", null, j))),
  );
}

/**
 * XEP-0441 §2.3.1: whether `peer` is on a list; a listed full JID matches only itself, a listed
 * bare JID matches the peer with any resource.
 */
export function listed(list: readonly string[], peer: Jid): boolean {
  if (list.length === 0) return false;
  const full = peer.toString();
  const bare = peer.bareString;
  for (const j of list) if (j === full || j === bare) return true;
  return false;
}

/**
 * Whether a message exchanged with `peer` is archived, or "roster" when that depends on whether
 * the peer is in the account's roster (the "roster" policy; looking that up may cost a storage
 * read, so the caller does it). XEP-0441 §2.3.2/§2.3.3: `peer` is the 'to' of an outgoing message,
 * the 'from' of an incoming one.
 */
export function decide(prefs: ArchivePrefs, peer: Jid): boolean | "roster" {
  if (listed(prefs.never, peer)) return false;
  if (listed(prefs.always, peer)) return true;
  switch (prefs.default) {
    case "always":
      return true;
    case "never":
      return false;
    case "roster":
      return "roster";
  }
}
