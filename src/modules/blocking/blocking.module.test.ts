// Unit tests of XEP-0191 JID matching and request parsing; the protocol over real sockets is in
// test/scenarios/blocking.test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseJid } from "../../jid/jid.js";
import { x } from "../../xml/element.js";
import { StanzaError } from "../../core/errors.js";
import { NS_BLOCKING, matchesBlocklist, parseItems } from "./blocking.module.js";

const m = (items: string[], j: string) => matchesBlocklist(new Set(items), parseJid(j));

describe("XEP-0191 JID matching", () => {
  it("a full JID matches only that resource", () => {
    assert.equal(m(["romeo@example.net/orchard"], "romeo@example.net/orchard"), true);
    assert.equal(m(["romeo@example.net/orchard"], "romeo@example.net/balcony"), false);
    assert.equal(m(["romeo@example.net/orchard"], "romeo@example.net"), false);
  });

  it("a bare JID matches every resource", () => {
    assert.equal(m(["romeo@example.net"], "romeo@example.net"), true);
    assert.equal(m(["romeo@example.net"], "romeo@example.net/x"), true);
    assert.equal(m(["romeo@example.net"], "mercutio@example.net/x"), false);
    assert.equal(m(["romeo@example.net"], "example.net"), false);
  });

  it("domain/resource matches only that address", () => {
    assert.equal(m(["example.net/bot"], "example.net/bot"), true);
    assert.equal(m(["example.net/bot"], "example.net"), false);
    assert.equal(m(["example.net/bot"], "romeo@example.net/bot"), false);
  });

  it("a domain matches itself, its users and its subdomains", () => {
    for (const j of ["example.net", "example.net/r", "romeo@example.net", "romeo@example.net/r", "room@muc.example.net/nick"]) assert.equal(m(["example.net"], j), true, j);
    for (const j of ["example.org", "romeo@notexample.net", "example.net.org"]) assert.equal(m(["example.net"], j), false, j);
  });

  it("matches prepared forms (items are stored normalized)", () => {
    assert.equal(m([parseJid("Romeo@Example.NET").toString()], "romeo@example.net/x"), true);
    assert.equal(m([], "romeo@example.net"), false);
  });
});

describe("blocking request items", () => {
  const req = (...jids: (string | undefined)[]) => x("block", { xmlns: NS_BLOCKING }, ...jids.map((j) => x("item", j === undefined ? {} : { jid: j })));
  const condition = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e instanceof StanzaError ? e.condition : "other";
    }
    return "none";
  };

  it("normalizes the JIDs", () => {
    assert.deepEqual(parseItems(req("Romeo@Example.net", "example.org")).map(String), ["romeo@example.net", "example.org"]);
    assert.deepEqual(parseItems(req()), []);
  });

  it("refuses malformed and missing JIDs", () => {
    assert.equal(condition(() => parseItems(req("a@b@c"))), "jid-malformed");
    assert.equal(condition(() => parseItems(req(""))), "jid-malformed");
    assert.equal(condition(() => parseItems(req(undefined))), "bad-request");
  });
});
