// Tests of XEP-0441 preferences: parsing, JID matching (§2.3.1) and the archiving decision.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { parseJid } from "../../jid/jid.js";
import { StanzaError } from "../../core/errors.js";
import { decide, listed, parsePrefs, prefsElement, type ArchivePrefs } from "./prefs.js";
import { NS_MAM } from "./rules.js";

const prefs = (dflt: string | undefined, always: string[] = [], never: string[] = []) =>
  x(
    "prefs",
    { xmlns: NS_MAM, default: dflt },
    x("always", null, ...always.map((j) => x("jid", null, j))),
    x("never", null, ...never.map((j) => x("jid", null, j))),
  );

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof StanzaError ? e.condition : String(e);
  }
  return "ok";
};

describe("XEP-0441 preferences", () => {
  it("parses, normalises and round-trips", () => {
    const p = parsePrefs(prefs("roster", ["Romeo@Montague.lit", "nurse@capulet.lit/Chamber"], ["montague@montague.lit"]));
    assert.deepEqual(p, { default: "roster", always: ["nurse@capulet.lit/Chamber", "romeo@montague.lit"], never: ["montague@montague.lit"] });
    assert.deepEqual(parsePrefs(prefsElement(p)), p);
    const out = prefsElement({ default: "always", always: [], never: [] });
    assert.ok(out.getChild("always", NS_MAM) && out.getChild("never", NS_MAM), "both lists present even when empty (§2.1)");
  });
  it("treats missing lists as empty and lets never win over always", () => {
    assert.deepEqual(parsePrefs(x("prefs", { xmlns: NS_MAM, default: "never" })), { default: "never", always: [], never: [] });
    const p = parsePrefs(prefs("always", ["a@b"], ["a@b"]));
    assert.deepEqual([p.always, p.never], [[], ["a@b"]]);
  });
  it("refuses a bad default and bad JIDs", () => {
    assert.equal(code(() => parsePrefs(prefs(undefined))), "bad-request");
    assert.equal(code(() => parsePrefs(prefs("sometimes"))), "bad-request");
    assert.equal(code(() => parsePrefs(prefs("always", ["a@@b"]))), "jid-malformed");
  });
  it("matches bare entries on any resource, full entries exactly (§2.3.1)", () => {
    assert.equal(listed(["a@b"], parseJid("a@b/r")), true);
    assert.equal(listed(["a@b/r"], parseJid("a@b/r")), true);
    assert.equal(listed(["a@b/r"], parseJid("a@b/other")), false);
    assert.equal(listed(["a@b/r"], parseJid("a@b")), false);
  });
  it("decides by lists, then by the default, and leaves the roster to the caller", () => {
    const p = (d: ArchivePrefs["default"], always: string[] = [], never: string[] = []): ArchivePrefs => ({ default: d, always, never });
    assert.equal(decide(p("always"), parseJid("s@x")), true);
    assert.equal(decide(p("never"), parseJid("s@x")), false);
    assert.equal(decide(p("never", ["s@x"]), parseJid("s@x/r")), true);
    assert.equal(decide(p("always", [], ["s@x"]), parseJid("s@x/r")), false);
    assert.equal(decide(p("roster"), parseJid("friend@x/phone")), "roster");
    assert.equal(decide(p("roster", ["s@x"]), parseJid("s@x/r")), true);
    assert.equal(decide(p("roster", [], ["s@x"]), parseJid("s@x")), false);
  });
});
