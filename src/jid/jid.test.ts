// Tests for JID parsing and PRECIS preparation, using the examples of RFC 7622 §3.5.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Jid, JidError, jid, parseJid, prepDomain, prepLocal, prepResource, tryParseJid } from "./jid.js";

test("RFC 7622 §3.5.1 valid JIDs", () => {
  const cases: [string, string, string, string][] = [
    ["juliet@example.com", "juliet", "example.com", ""],
    ["juliet@example.com/foo", "juliet", "example.com", "foo"],
    ["juliet@example.com/foo bar", "juliet", "example.com", "foo bar"],
    ["juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar"],
    ["foo\\20bar@example.com", "foo\\20bar", "example.com", ""],
    ["fussball@example.com", "fussball", "example.com", ""],
    ["fußball@example.com", "fußball", "example.com", ""],
    ["π@example.com", "π", "example.com", ""],
    ["Σ@example.com/foo", "σ", "example.com", "foo"],
    ["σ@example.com/foo", "σ", "example.com", "foo"],
    ["ς@example.com/foo", "ς", "example.com", "foo"],
    ["king@example.com/♚", "king", "example.com", "♚"],
    ["example.com", "", "example.com", ""],
    ["example.com/foobar", "", "example.com", "foobar"],
    ["a.example.com/b@example.net", "", "a.example.com", "b@example.net"],
  ];
  for (const [input, local, domain, resource] of cases) {
    const j = parseJid(input);
    assert.deepEqual([j.local, j.domain, j.resource], [local, domain, resource], input);
  }
});

test("RFC 7622 §3.5.2 invalid JIDs", () => {
  const cases: [string, string][] = [
    ['"juliet"@example.com', "local"], // quotation marks, §3.3.1
    ["foo bar@example.com", "local"], // space
    ["juliet@example.com/", "resource"], // empty resource
    ["@example.com/", "local"], // empty local
    ["henry\u2163@example.com", "local"], // ROMAN NUMERAL FOUR has a compatibility mapping
    ["♚@example.com", "local"], // symbols are not in IdentifierClass
    ["juliet@", "domain"],
    ["/foobar", "domain"],
  ];
  for (const [input, part] of cases) {
    assert.throws(() => parseJid(input), (e: unknown) => e instanceof JidError && e.part === part, input);
    assert.equal(tryParseJid(input), undefined, input);
  }
});

test("localpart preparation", () => {
  assert.equal(prepLocal("Juliet"), "juliet");
  assert.equal(prepLocal("ＪＵＬＩＥＴ"), "juliet"); // fullwidth → ASCII, then case mapped
  assert.equal(prepLocal("e\u0301"), "\u00e9"); // NFC
  assert.equal(prepLocal("a+b!#$%*^_`|~{}=?.-"), "a+b!#$%*^_`|~{}=?.-");
  assert.equal(prepLocal("l\u00b7l"), "l\u00b7l"); // RFC 5892 A.3 middle dot between two l
  for (const bad of ["", "a b", "a\tb", "a&b", "a'b", "a/b", "a:b", "a<b", "a>b", "a@b", "a\u200db", "a\u00a0b", "ﬁ", "\ue000", "\u0378", "a\u00b7b", "\u0661\u06f1", "a\u0640b", "\u{1f600}"]) {
    assert.throws(() => prepLocal(bad), JidError, JSON.stringify(bad));
  }
  assert.equal(prepLocal("a".repeat(1023)).length, 1023);
  assert.throws(() => prepLocal("a".repeat(1024)), JidError);
  assert.throws(() => prepLocal("é".repeat(512)), JidError); // 1024 octets in UTF-8
});

test("domainpart preparation", () => {
  assert.equal(prepDomain("Example.COM"), "example.com");
  assert.equal(prepDomain("example.com."), "example.com"); // RFC 7622 §3.2: trailing dot stripped
  assert.equal(prepDomain("ｅｘａｍｐｌｅ.com"), "example.com");
  assert.equal(prepDomain("MÜNCHEN.de"), "münchen.de");
  assert.equal(prepDomain("xn--mnchen-3ya.de"), "münchen.de"); // A-labels become U-labels
  assert.equal(prepDomain("localhost"), "localhost");
  assert.equal(prepDomain("192.0.2.1"), "192.0.2.1");
  assert.equal(prepDomain("[2001:DB8::1]"), "[2001:db8::1]");
  assert.equal(prepDomain("a".repeat(63) + ".com").length, 67);
  for (const bad of ["", ".", "a..b", "-a.com", "a-.com", "a_b.com", "foo bar", "exa%mple.com", "1.2.3", "256.1.1.1", "01.2.3.4",
    "[::1", "[fe80::1%eth0]", "[nope]", "xn--a.com", "\u2163.com", "a".repeat(64) + ".com", "a@b"]) {
    assert.throws(() => prepDomain(bad), JidError, JSON.stringify(bad));
  }
});

test("resourcepart preparation", () => {
  assert.equal(prepResource("Foo Bar"), "Foo Bar"); // case preserved
  assert.equal(prepResource("a\u3000b"), "a b"); // non-ASCII space → U+0020
  assert.equal(prepResource("e\u0301"), "\u00e9");
  assert.equal(prepResource("ﬁ"), "ﬁ"); // FreeformClass keeps compatibility characters
  assert.equal(prepResource("a/b@c"), "a/b@c");
  for (const bad of ["", "a\u0000b", "a\nb", "a\u200bb", "\ue000", "\u0378"]) {
    assert.throws(() => prepResource(bad), JidError, JSON.stringify(bad));
  }
  assert.throws(() => prepResource("x".repeat(1024)), JidError);
});

test("Jid API", () => {
  const full = parseJid("Juliet@Example.com/Balcony");
  assert.equal(full.toString(), "juliet@example.com/Balcony");
  assert.equal(full.bareString, "juliet@example.com");
  assert.equal(full.isBare, false);
  const bare = full.bare();
  assert.equal(bare.isBare, true);
  assert.equal(bare.toString(), "juliet@example.com");
  assert.ok(bare instanceof Jid);
  assert.ok(bare.equals(parseJid("JULIET@example.com.")));
  assert.ok(!bare.equals(full));
  assert.equal(bare.bare(), bare);
  assert.ok(full.equals(jid("juliet", "example.com", "Balcony")));
  assert.ok(!full.equals(jid("juliet", "example.com", "balcony")));
  assert.equal(full.withResource("x").toString(), "juliet@example.com/x");
  assert.equal(jid(undefined, "example.com").toString(), "example.com");
  assert.equal(JSON.stringify({ to: full }), '{"to":"juliet@example.com/Balcony"}');
  assert.throws(() => jid("a b", "example.com"), JidError);
  assert.throws(() => new Jid("", ""), JidError);
  assert.throws(() => parseJid("a".repeat(4000)), JidError);
});

test("equal JIDs are structurally equal (no hidden caches)", () => {
  const a = parseJid("romeo@example.net/orchard");
  const b = parseJid("Romeo@Example.net/orchard");
  void a.toString();
  assert.deepEqual(a, b);
});
