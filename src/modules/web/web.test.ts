import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { escapeHtml, privacyHtml } from "./web.module.js";
import type { Inventory } from "../../core/lifecycle/inventory.js";

describe("privacy page rendering", () => {
  it("escapes everything it prints and keeps only the inventory's inline markup", () => {
    const inv: Inventory = {
      intro: ["Hello `code` and **bold** <script>alert(1)</script>"],
      rows: [{ store: "s<x>", module: "m&n", owner: "your account", purpose: 'why "<img src=x>"', retention: "7 days", export: true }],
      sections: [{ title: "T <b>", paragraphs: ["p & q"], bullets: ["**B** 'x'"] }],
    };
    const html = privacyHtml(inv, "ex<ample>.com");
    assert.doesNotMatch(html, /<script|<img|<b>|<x>/);
    assert.match(html, /<code>code<\/code> and <strong>bold<\/strong> &lt;script&gt;/);
    assert.match(html, /<code>s&lt;x&gt;<\/code> \(m&amp;n\)/);
    assert.match(html, /why &quot;&lt;img src=x&gt;&quot;/);
    assert.match(html, /<title>Privacy policy of ex&lt;ample&gt;.com<\/title>/);
    assert.match(html, /<li><strong>B<\/strong> &#39;x&#39;<\/li>/);
  });

  it("escapes the five HTML specials", () => {
    assert.equal(escapeHtml(`<&>"'`), "&lt;&amp;&gt;&quot;&#39;");
  });
});
