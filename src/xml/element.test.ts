// Tests for the Element tree and its serializer: escaping (XML 1.0 §2.4, §2.11), namespace
// emission (RFC 6120 §4.8.3) and parse → serialize → parse round trips through the stream parser.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Element, escapeAttr, escapeText, serialize, x } from "./element.js";
import { StreamParser } from "./parser.js";

const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/** Parses stanzas in a jabber:client stream; fails the test on any parse error. */
function parseStanzas(xml: string): Element[] {
  const out: Element[] = [];
  const p = new StreamParser({
    streamStart() {},
    stanza(el) {
      out.push(el);
    },
    streamEnd() {},
    error(err) {
      assert.fail(`${err.condition}: ${err.message} in ${xml}`);
    },
  });
  p.write(HEADER + xml);
  return out;
}

function parseOne(xml: string): Element {
  const els = parseStanzas(xml);
  assert.equal(els.length, 1);
  return els[0]!;
}

describe("escaping", () => {
  it("escapes markup characters in text, so `]]>` cannot appear", () => {
    assert.equal(escapeText("a < b & c > d"), "a &lt; b &amp; c &gt; d");
    assert.equal(escapeText("x]]>y"), "x]]&gt;y");
    assert.equal(escapeText(`"quotes' stay"`), `"quotes' stay"`);
    assert.equal(escapeText("plain"), "plain");
  });

  it("escapes quotes of both kinds and whitespace in attribute values", () => {
    assert.equal(escapeAttr(`a"b'c<d&e>f`), "a&quot;b&apos;c&lt;d&amp;e&gt;f");
    assert.equal(escapeAttr("l1\nl2\tt\rr"), "l1&#10;l2&#9;t&#13;r");
  });

  it("keeps a carriage return in text by character reference (XML 1.0 §2.11)", () => {
    assert.equal(escapeText("a\r\nb"), "a&#13;\nb");
  });

  it("replaces characters XML 1.0 cannot carry with U+FFFD", () => {
    assert.equal(escapeText("a\u0000b\u0001c\u001fd\ufffee\uffff"), "a\ufffdb\ufffdc\ufffdd\ufffde\ufffd");
    assert.equal(escapeAttr("\u0007"), "\ufffd");
    assert.equal(escapeText("tab\tnl\n"), "tab\tnl\n");
    assert.equal(escapeText("😀 \u00e9"), "😀 \u00e9");
  });

  it("escapes text and attribute values when serializing", () => {
    const el = x("message", { to: `a"b'<c>&` }, x("body", null, "1 < 2 && ]]>"));
    assert.equal(el.toString(), `<message to="a&quot;b&apos;&lt;c&gt;&amp;"><body>1 &lt; 2 &amp;&amp; ]]&gt;</body></message>`);
  });
});

describe("namespace emission", () => {
  it("declares a namespace only where it differs from the surrounding one", () => {
    const el = x(
      "iq",
      { xmlns: "jabber:client", type: "result", id: "1" },
      x("query", { xmlns: "jabber:iq:roster" }, x("item", { jid: "a@b" })),
    );
    assert.equal(el.toString("jabber:client"), `<iq type="result" id="1"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>`);
    assert.equal(
      el.toString(),
      `<iq xmlns="jabber:client" type="result" id="1"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>`,
    );
    assert.equal(serialize(el, "jabber:server"), el.toString());
  });

  it("gives children without a namespace their parent's, however deep", () => {
    const inner = new Element("c");
    const mid = new Element("b", "", {}, [inner]);
    const top = new Element("a", "urn:a");
    top.append(mid);
    assert.equal(mid.ns, "urn:a");
    assert.equal(inner.ns, "urn:a");
    assert.equal(top.toString(), `<a xmlns="urn:a"><b><c/></b></a>`);
  });

  it("does not change a child that has its own namespace", () => {
    const top = x("a", { xmlns: "urn:a" }, x("b", { xmlns: "urn:b" }, x("c")));
    assert.equal(top.getChild("b")!.ns, "urn:b");
    assert.equal(top.getChild("b")!.getChild("c")!.ns, "urn:b");
    assert.equal(top.toString(), `<a xmlns="urn:a"><b xmlns="urn:b"><c/></b></a>`);
  });

  it("writes an element without namespace and no context as bare", () => {
    assert.equal(new Element("a", "", { k: "v" }).toString(), `<a k="v"/>`);
  });
});

describe("building and querying", () => {
  it("drops undefined attributes and falsy children in x()", () => {
    const el = x("presence", { type: undefined, to: "a@b" }, null, undefined, false, "t");
    assert.deepEqual(el.attrs, { to: "a@b" });
    assert.deepEqual(el.children, ["t"]);
  });

  it("builds with c() and t()", () => {
    const el = new Element("message", "jabber:client");
    el.c("body").t("hi").t("");
    el.c("x", { a: "1" }, "urn:x");
    assert.equal(el.toString("jabber:client"), `<message><body>hi</body><x xmlns="urn:x" a="1"/></message>`);
  });

  it("finds children by name and namespace", () => {
    const el = parseOne("<message><body>one</body><body xml:lang='de'>eins</body><x xmlns='urn:x'>t</x></message>");
    assert.equal(el.getChildText("body"), "one");
    assert.equal(el.getChildren("body").length, 2);
    assert.equal(el.getChild("x", "jabber:client"), undefined);
    assert.equal(el.getChildByNs("urn:x")!.text(), "t");
    assert.ok(el.getChild("x", "urn:x")!.is("x", "urn:x"));
    assert.equal(el.elements().length, 3);
  });

  it("clones deeply", () => {
    const a = x("a", { xmlns: "urn:a", k: "v" }, x("b", null, "text"));
    const b = a.clone();
    b.attrs.k = "changed";
    b.getChild("b")!.children.push("more");
    assert.equal(a.toString(), `<a xmlns="urn:a" k="v"><b>text</b></a>`);
    assert.equal(b.toString(), `<a xmlns="urn:a" k="changed"><b>textmore</b></a>`);
  });
});

describe("round trip parse → serialize → parse", () => {
  const samples = [
    "<message to='jülia@example.com/🎉' type='chat' id='a&amp;b'><body>héllo &lt;world&gt; &amp; ]]&gt; 😀</body></message>",
    "<message><body>quotes \" and ' in text</body><subject a='&quot;&apos;'/></message>",
    "<message><body>line1\r\nline2&#13;&#10;line3\ttab</body></message>",
    "<message a='attr&#10;with&#9;whitespace&#13;'/>",
    "<message><body><![CDATA[<not-a-tag> & ]]]]><![CDATA[>]]></body></message>",
    "<iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='A &amp; B'><group>Friends</group></item></query></iq>",
    "<message xmlns:e='urn:e' e:flag='1'><e:ext e:attr='2'><e:inner/></e:ext></message>",
    "<presence xml:lang='fr'><status>ça va</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v='/></presence>",
    "<message><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>a <b>b</b> c</p></body></html></message>",
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
  ];
  for (const sample of samples) {
    it(`keeps ${sample.slice(0, 60)}…`, () => {
      const first = parseOne(sample);
      const text = first.toString("jabber:client");
      const second = parseOne(text);
      assert.deepEqual(second, first);
      assert.equal(second.toString("jabber:client"), text, "serialization is stable");
    });
  }

  it("keeps text and attributes with every character class that needs escaping", () => {
    let all = "";
    for (let c = 0x09; c < 0x80; c++) if (c === 0x09 || c === 0x0a || c === 0x0d || c >= 0x20) all += String.fromCharCode(c);
    all += "é€😀]]>";
    const el = x("message", { xmlns: "jabber:client", a: all, b: all }, x("body", null, all));
    const back = parseOne(el.toString("jabber:client"));
    assert.equal(back.attr("a"), all);
    assert.equal(back.getChildText("body"), all);
    assert.deepEqual(back, el);
  });
});
