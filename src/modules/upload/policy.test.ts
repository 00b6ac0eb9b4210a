// File name, content-type and range rules of HTTP File Upload (XEP-0363, RFC 9110 §14).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { contentTypeAllowed, mediaType, parseRange, sanitizeFilename, servedAs } from "./policy.js";

describe("sanitizeFilename", () => {
  it("keeps ordinary names, extensions and non-ASCII letters", () => {
    assert.equal(sanitizeFilename("my-juliet.jpg"), "my-juliet.jpg");
    assert.equal(sanitizeFilename("  Übersicht 2024.pdf "), "Übersicht 2024.pdf");
    assert.equal(sanitizeFilename("a..b.txt"), "a..b.txt");
  });
  it("refuses empty, dot, path-like, control characters and over-long names", () => {
    for (const bad of ["", "   ", ".", "..", "../etc/passwd", "a/b", "a\\b", "x\u0000y", "line\nbreak", "tab\there", "\u202egnp.exe", "a".repeat(256)]) {
      assert.equal(sanitizeFilename(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(sanitizeFilename("é".repeat(127)), "é".repeat(127)); // 254 bytes
    assert.equal(sanitizeFilename("é".repeat(128)), undefined); // 256 bytes
  });
});

describe("content types", () => {
  it("parses the essence and refuses malformed types", () => {
    assert.equal(mediaType("Image/JPEG; q=1"), "image/jpeg");
    assert.equal(mediaType("text/plain;charset=utf-8"), "text/plain");
    for (const bad of ["", "jpeg", "image/", "/png", "image/png/x", "ima ge/png"]) assert.equal(mediaType(bad), undefined, bad);
  });
  it("allows anything by default, honours allow and deny patterns", () => {
    assert.equal(contentTypeAllowed("text/html", { allow: [], deny: [] }), true);
    const p = { allow: ["image/*", "application/pdf"], deny: ["image/svg+xml"] };
    assert.equal(contentTypeAllowed("image/png", p), true);
    assert.equal(contentTypeAllowed("application/pdf", p), true);
    assert.equal(contentTypeAllowed("image/svg+xml", p), false);
    assert.equal(contentTypeAllowed("text/html", p), false);
    assert.equal(contentTypeAllowed("application/x-msdownload", { allow: [], deny: ["application/x-msdownload"] }), false);
  });
  it("serves only display types inline; anything that could run becomes an attachment", () => {
    assert.deepEqual(servedAs("image/png", "a.png"), { contentType: "image/png", disposition: `inline; filename="a.png"; filename*=UTF-8''a.png` });
    for (const t of ["text/html", "image/svg+xml", "application/xml", "text/xml", "application/javascript", "text/javascript", "application/xhtml+xml", "application/x-unknown"]) {
      const s = servedAs(t, "x");
      assert.equal(s.contentType, "application/octet-stream", t);
      assert.match(s.disposition, /^attachment;/, t);
    }
  });
  it("quotes file names safely in Content-Disposition (RFC 6266, RFC 8187)", () => {
    const s = servedAs("text/plain", 'a"b%ü\'.txt');
    assert.equal(s.disposition, `inline; filename="a_b__'.txt"; filename*=UTF-8''a%22b%25%C3%BC%27.txt`);
  });
});

describe("parseRange", () => {
  it("parses single ranges and clamps the end", () => {
    assert.deepEqual(parseRange("bytes=0-9", 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange("bytes=90-", 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange("bytes=-10", 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange("bytes=-500", 100), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=50-500", 100), { start: 50, end: 99 });
  });
  it("reports unsatisfiable ranges and ignores what it does not serve", () => {
    assert.equal(parseRange("bytes=100-", 100), "unsatisfiable");
    assert.equal(parseRange("bytes=-0", 100), "unsatisfiable");
    assert.equal(parseRange(undefined, 100), undefined);
    assert.equal(parseRange("bytes=0-1,5-6", 100), undefined);
    assert.equal(parseRange("items=0-1", 100), undefined);
    assert.equal(parseRange("bytes=9-2", 100), undefined);
  });
});
