// Tests for the streaming XMPP XML parser: chunking, namespaces, RFC 6120 §11 restrictions,
// limits (RFC 6120 §13.12), stream restarts (§4.3.3) and WebSocket fragments (RFC 7395 §3.3.3).

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StreamParser, XmlStreamError, type ParserOptions, type StreamHeader } from "./parser.js";
import type { Element } from "./element.js";

const NS_STREAM = "http://etherx.jabber.org/streams";
const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
  "to='example.com' version='1.0' xml:lang='en'>";

interface Log {
  headers: StreamHeader[];
  stanzas: Element[];
  ends: number;
  errors: XmlStreamError[];
  events: string[];
}

function collect(options: Partial<ParserOptions> = {}, onStanza?: (el: Element, p: StreamParser) => void) {
  const log: Log = { headers: [], stanzas: [], ends: 0, errors: [], events: [] };
  const parser: StreamParser = new StreamParser(
    {
      streamStart(h) {
        log.headers.push(h);
        log.events.push("start");
      },
      stanza(el) {
        log.stanzas.push(el);
        log.events.push("stanza:" + el.name);
        onStanza?.(el, parser);
      },
      streamEnd() {
        log.ends++;
        log.events.push("end");
      },
      error(err) {
        log.errors.push(err);
        log.events.push("error:" + err.condition);
      },
    },
    options,
  );
  return { parser, log };
}

/** Parses `xml` (one write unless chunks are given) and returns the log. */
function parse(xml: string | (string | Buffer)[], options: Partial<ParserOptions> = {}): Log {
  const { parser, log } = collect(options);
  for (const c of typeof xml === "string" ? [xml] : xml) parser.write(c);
  return log;
}

function onlyError(log: Log): XmlStreamError {
  assert.equal(log.errors.length, 1, "exactly one error expected, got " + log.errors.map((e) => e.message).join("; "));
  return log.errors[0]!;
}

function serializeAll(log: Log): string[] {
  return log.stanzas.map((s) => s.toString("jabber:client"));
}

describe("stream mode basics", () => {
  it("reports the header, stanzas and the end of the stream", () => {
    const log = parse(
      HEADER +
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>" +
        "<message to='a@b/c' type='chat' id='x1'><body>hello</body></message>" +
        "</stream:stream>",
    );
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.events, ["start", "stanza:features", "stanza:message", "end"]);
    const h = log.headers[0]!;
    assert.equal(h.name, "stream");
    assert.equal(h.ns, NS_STREAM);
    assert.equal(h.prefix, "stream");
    assert.equal(h.defaultNs, "jabber:client");
    assert.deepEqual(h.attrs, { "xmlns:stream": NS_STREAM, to: "example.com", version: "1.0", "xml:lang": "en" });
    const [features, message] = log.stanzas;
    assert.equal(features!.ns, NS_STREAM);
    assert.equal(features!.getChild("starttls", "urn:ietf:params:xml:ns:xmpp-tls")?.name, "starttls");
    assert.equal(message!.ns, "jabber:client");
    assert.deepEqual(message!.attrs, { to: "a@b/c", type: "chat", id: "x1" });
    assert.equal(message!.getChildText("body", "jabber:client"), "hello");
  });

  it("ignores whitespace keepalives between stanzas", () => {
    const log = parse([HEADER, " ", "\n\n", "<presence/>", "\r\n \t", " ", "<presence/>", "  "]);
    assert.deepEqual(log.errors, []);
    assert.equal(log.stanzas.length, 2);
  });

  it("rejects text other than whitespace between stanzas", () => {
    const log = parse([HEADER, "<presence/>hello<presence/>"]);
    assert.equal(onlyError(log).condition, "not-well-formed");
    assert.equal(log.stanzas.length, 1);
  });

  it("accepts a stream header without an XML declaration, and a BOM-less UTF-8 Buffer", () => {
    const log = parse([Buffer.from(HEADER.replace("<?xml version='1.0'?>", "")), Buffer.from("<iq type='get' id='1'/>")]);
    assert.deepEqual(log.errors, []);
    assert.equal(log.stanzas[0]!.attr("id"), "1");
  });

  it("checks the stream namespace and root name (RFC 6120 §4.8.1)", () => {
    const wrongNs = parse("<stream:stream xmlns='jabber:client' xmlns:stream='urn:other'>");
    assert.equal(onlyError(wrongNs).condition, "invalid-namespace");
    assert.equal(wrongNs.headers.length, 0);
    const wrongName = parse("<stream:flow xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
    assert.equal(onlyError(wrongName).condition, "bad-format");
  });

  it("normalises CRLF line ends in text and attribute whitespace as XML requires", () => {
    const log = parse(HEADER + "<message a='x\ty'><body>one\r\ntwo\rthree</body></message>");
    assert.deepEqual(log.errors, []);
    assert.equal(log.stanzas[0]!.attr("a"), "x y");
    assert.equal(log.stanzas[0]!.getChildText("body"), "one\ntwo\nthree");
  });
});

describe("chunking", () => {
  const doc =
    HEADER +
    "<message to='jülia@例え.jp/🎉' type='chat'><body>héllo 世界 😀 &amp; &#x1F600; <![CDATA[<raw>&]]></body>" +
    "<x xmlns='urn:x' xmlns:p='urn:p' p:a='ü'/></message>\n" +
    "<presence><status>ça va</status></presence></stream:stream>";
  const bytes = Buffer.from(doc, "utf8");
  const whole = parse([bytes]);

  it("parses the reference document", () => {
    assert.deepEqual(whole.errors, []);
    assert.equal(whole.stanzas.length, 2);
    assert.equal(whole.stanzas[0]!.getChildText("body"), "héllo 世界 😀 & 😀 <raw>&");
    assert.equal(whole.stanzas[0]!.attr("to"), "jülia@例え.jp/🎉");
    assert.equal(whole.ends, 1);
  });

  it("gives the same result split at every byte, including inside multi-byte characters", () => {
    const expected = serializeAll(whole);
    for (let i = 1; i < bytes.length; i++) {
      const log = parse([bytes.subarray(0, i), bytes.subarray(i)]);
      assert.deepEqual(log.errors, [], `split at byte ${i}`);
      assert.deepEqual(serializeAll(log), expected, `split at byte ${i}`);
      assert.equal(log.ends, 1);
    }
  });

  it("gives the same result fed one byte at a time and one UTF-16 unit at a time", () => {
    const expected = serializeAll(whole);
    const byBytes = parse([...bytes].map((b) => Buffer.from([b])));
    assert.deepEqual(serializeAll(byBytes), expected);
    const byUnits = parse(doc.split(""));
    assert.deepEqual(byUnits.errors, []);
    assert.deepEqual(serializeAll(byUnits), expected);
  });
});

describe("namespaces", () => {
  it("inherits the root's default namespace and resolves prefixes", () => {
    const log = parse(
      HEADER +
        "<iq type='result' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>" +
        "<message xmlns:e='urn:example'><e:ext e:flag='1' plain='2'><e:inner/></e:ext></message>" +
        "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    assert.deepEqual(log.errors, []);
    const [iq, message, error] = log.stanzas;
    assert.equal(iq!.ns, "jabber:client");
    const query = iq!.getChild("query")!;
    assert.equal(query.ns, "jabber:iq:roster");
    assert.deepEqual(query.attrs, {}, "the default declaration is Element.ns, not an attribute");
    assert.equal(query.getChild("item")!.ns, "jabber:iq:roster", "inherited from the parent");
    const ext = message!.getChild("ext", "urn:example")!;
    assert.equal(ext.name, "ext", "the prefix is resolved away");
    assert.deepEqual(ext.attrs, { "e:flag": "1", plain: "2" });
    assert.equal(ext.getChild("inner")!.ns, "urn:example");
    assert.equal(message!.attr("xmlns:e"), "urn:example", "prefixed declarations stay in attrs");
    assert.equal(error!.name, "error");
    assert.equal(error!.ns, NS_STREAM);
    assert.equal(error!.getChild("not-well-formed")!.ns, "urn:ietf:params:xml:ns:xmpp-streams");
  });

  it("keeps xml:lang and allows undeclaring the default namespace", () => {
    const log = parse(HEADER + "<message xml:lang='de'><x xmlns=''><y/></x></message>");
    assert.deepEqual(log.errors, []);
    const m = log.stanzas[0]!;
    assert.equal(m.attr("xml:lang"), "de");
    assert.equal(m.getChild("x")!.ns, "");
    assert.equal(m.getChild("x")!.getChild("y")!.ns, "");
  });

  it("copies a prefix declared on the root onto stanzas that use it in attributes", () => {
    const log = parse(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:r='urn:r'>" +
        "<message r:a='1'><body r:b='2'/></message><presence><c xmlns:r='urn:r' r:c='3'/></presence>",
    );
    assert.deepEqual(log.errors, []);
    const [message, presence] = log.stanzas;
    assert.equal(message!.attr("xmlns:r"), "urn:r");
    assert.equal(presence!.attr("xmlns:r"), undefined, "declared inside the stanza already");
    // The serialized stanza stands on its own.
    const again = parse([HEADER, message!.toString("jabber:client")]);
    assert.deepEqual(again.errors, []);
    assert.equal(again.stanzas[0]!.getChild("body")!.attr("r:b"), "2");
  });

  for (const [what, xml] of [
    ["an undeclared element prefix", "<p:x/>"],
    ["an undeclared attribute prefix", "<x p:a='1'/>"],
    ["an attribute prefix declared only on a sibling", "<x><y xmlns:p='urn:p'/><z p:a='1'/></x>"],
    ["a duplicate attribute", "<x a='1' a='2'/>"],
    ["a duplicate attribute by expanded name", "<x xmlns:p='urn:p' xmlns:q='urn:p' p:a='1' q:a='2'/>"],
    ["an empty prefix binding", "<x xmlns:p=''/>"],
    ["a rebound xml prefix", "<x xmlns:xml='urn:not-xml'/>"],
    ["a declared xmlns prefix", "<x xmlns:xmlns='urn:x'/>"],
    ["an element in the xmlns prefix", "<xmlns:x/>"],
    ["a malformed qualified name", "<a:b:c xmlns:a='urn:a'/>"],
    ["an empty local name", "<x xmlns:a='urn:a' a:=''/>"],
  ] as const) {
    it(`rejects ${what} as not-well-formed`, () => {
      const log = parse([HEADER, xml]);
      assert.equal(onlyError(log).condition, "not-well-formed");
      assert.equal(log.stanzas.length, 0);
    });
  }
});

describe("character data", () => {
  it("decodes the predefined entities and character references in text and attributes", () => {
    const log = parse(HEADER + "<message a='&lt;&amp;&gt;&quot;&apos;&#65;&#x42;&#10;'><body>&lt;b&gt; &amp;&#x263A;</body></message>");
    assert.deepEqual(log.errors, []);
    assert.equal(log.stanzas[0]!.attr("a"), "<&>\"'AB\n");
    assert.equal(log.stanzas[0]!.getChildText("body"), "<b> &☺");
  });

  it("accepts CDATA sections as text, merged with the text around them", () => {
    const log = parse(HEADER + "<message><body>a<![CDATA[<b>&amp;]]>c</body></message>");
    assert.deepEqual(log.errors, []);
    const body = log.stanzas[0]!.getChild("body")!;
    assert.deepEqual(body.children, ["a<b>&amp;c"]);
  });

  it("keeps mixed content in order", () => {
    const log = parse(HEADER + "<message><html><p>one <b>two</b> three</p></html></message>");
    const p = log.stanzas[0]!.getChild("html")!.getChild("p")!;
    assert.equal(p.children.length, 3);
    assert.equal(p.children[0], "one ");
    assert.equal(p.children[2], " three");
  });

  it("rejects a character reference to a character XML does not allow", () => {
    assert.equal(onlyError(parse([HEADER, "<m>&#0;</m>"])).condition, "not-well-formed");
  });
});

describe("restricted XML (RFC 6120 §11.1)", () => {
  const cases: [string, string[]][] = [
    ["a DOCTYPE", ["<?xml version='1.0'?><!DOCTYPE stream>", HEADER]],
    ["a DTD internal subset", ["<!DOCTYPE s [<!ELEMENT s ANY>]><stream:stream/>"]],
    ["an external DTD", ["<!DOCTYPE s SYSTEM 'http://example.com/x.dtd'>"]],
    ["a DOCTYPE inside the stream", [HEADER, "<!DOCTYPE x>"]],
    ["a comment before the root", ["<!-- hi -->", HEADER]],
    ["a comment between stanzas", [HEADER, "<presence/><!-- hi --><presence/>"]],
    ["a comment inside a stanza", [HEADER, "<message><!-- hi --></message>"]],
    ["a processing instruction", [HEADER, "<?php echo 1; ?>"]],
    ["a processing instruction inside a stanza", [HEADER, "<message><?target data?></message>"]],
    ["a reference to an undefined entity", [HEADER, "<message><body>&nbsp;</body></message>"]],
    ["an undefined entity in an attribute", [HEADER, "<message to='&foo;'/>"]],
  ];
  for (const [what, chunks] of cases) {
    it(`rejects ${what} as restricted-xml`, () => {
      const log = parse(chunks);
      assert.equal(onlyError(log).condition, "restricted-xml");
      assert.equal(log.stanzas.length, 0);
    });
  }

  it("allows the XML declaration only at the very start", () => {
    assert.deepEqual(parse(HEADER).errors, []);
    const late = parse(" " + HEADER);
    assert.equal(onlyError(late).condition, "not-well-formed");
    const inside = parse([HEADER, "<?xml version='1.0'?>"]);
    assert.equal(onlyError(inside).condition, "not-well-formed");
  });

  it("refuses a billion laughs payload at once and without expanding it", () => {
    let dtd = "<!DOCTYPE lolz [<!ENTITY lol \"lol\">";
    for (let i = 1; i <= 9; i++) {
      dtd += `<!ENTITY lol${i} "${`&lol${i === 1 ? "" : i - 1};`.repeat(10)}">`;
    }
    dtd += "]>";
    const payload = "<?xml version='1.0'?>" + dtd + "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol9;";
    const before = process.memoryUsage().heapUsed;
    const log = parse([payload, "<message><body>&lol9;</body></message>"]);
    assert.equal(onlyError(log).condition, "restricted-xml");
    assert.deepEqual(log.events, ["error:restricted-xml"]);
    assert.ok(process.memoryUsage().heapUsed - before < 50e6);
  });

  it("bounds an endless DTD by the stanza limit, before all of it is written", () => {
    const { parser, log } = collect({ maxStanzaSize: 10000 });
    parser.write("<!DOCTYPE x [");
    let written = 0;
    for (; written < 1000 && log.errors.length === 0; written++) parser.write("<!ENTITY a 'aaaaaaaaaaaaaaaaaaaaa'>".repeat(30));
    assert.equal(log.errors.length, 1);
    assert.ok(written < 20, `error after ${written} chunks`);
  });

  it("bounds an endless comment by the stanza limit", () => {
    const { parser, log } = collect({ maxStanzaSize: 10000 });
    parser.write(HEADER + "<message><!--");
    let written = 0;
    for (; written < 1000 && log.errors.length === 0; written++) parser.write("x".repeat(1024));
    assert.equal(log.errors.length, 1);
    assert.ok(written <= 11, `error after ${written} chunks`);
  });
});

describe("well-formedness", () => {
  const cases: [string, (string | Buffer)[]][] = [
    ["mismatched tags", [HEADER, "<message><body></message>"]],
    ["a stanza closed by the stream's end tag", [HEADER, "<message><body>hi</body></stream:stream>"]],
    ["an unmatched end tag", [HEADER, "</message>"]],
    ["a control character", [HEADER, "<message>\u0001</message>"]],
    ["an unpaired surrogate", [HEADER, "<message>\uDC00</message>"]],
    ["U+FFFE", [HEADER, "<message>\uFFFE</message>"]],
    ["invalid UTF-8", [Buffer.from(HEADER), Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e])]],
    ["an overlong UTF-8 encoding", [Buffer.from(HEADER), Buffer.from([0x3c, 0x61, 0x3e, 0xc0, 0xbc, 0x3c, 0x2f, 0x61, 0x3e])]],
    ["UTF-8 for a surrogate", [Buffer.from(HEADER), Buffer.from([0x3c, 0x61, 0x3e, 0xed, 0xa0, 0x80, 0x3c, 0x2f, 0x61, 0x3e])]],
    ["text before the root", ["hello", HEADER]],
    ["a second root", [HEADER, "</stream:stream>", HEADER]],
    ["text after the root", [HEADER, "</stream:stream>junk"]],
    // saxes reads an entity name up to the next `;` (bounded by maxStanzaSize), then checks it.
    ["a lone ampersand", [HEADER, "<message>a & b</message>", "<message>;</message>"]],
    ["`]]>` in text", [HEADER, "<message>a ]]> b</message>"]],
    ["`<` in an attribute", [HEADER, "<message a='<'/>"]],
    ["an unquoted attribute", [HEADER, "<message a=b/>"]],
    ["a tag name starting with a digit", [HEADER, "<1message/>"]],
    ["CDATA outside the root", ["<![CDATA[x]]>"]],
    ["non-whitespace CDATA between stanzas", [HEADER, "<![CDATA[x]]>"]],
  ];
  for (const [what, chunks] of cases) {
    it(`rejects ${what} as not-well-formed`, () => {
      const log = parse(chunks);
      assert.equal(onlyError(log).condition, "not-well-formed");
      assert.equal(log.stanzas.length, 0, "no stanza is delivered");
    });
  }

  it("reports one error and then ignores all input", () => {
    const { parser, log } = collect();
    parser.write(HEADER + "<a></b><c></d>&bad;<!-- -->");
    parser.write("<presence/>");
    parser.write(Buffer.from([0xff]));
    assert.equal(log.errors.length, 1);
    assert.deepEqual(log.events, ["start", "error:not-well-formed"]);
  });

  it("delivers stanzas completed before an error in a later chunk", () => {
    const log = parse([HEADER, "<presence/>", "<message></iq>"]);
    assert.deepEqual(log.events, ["start", "stanza:presence", "error:not-well-formed"]);
  });
});

describe("limits", () => {
  it("accepts a stanza of exactly maxStanzaSize characters, measured from its `<`", () => {
    // (The limit applies to the stream header too, hence a stanza longer than HEADER.)
    const stanza = "<message><body>" + "x".repeat(HEADER.length) + "</body></message>";
    const log = parse([HEADER, " ".repeat(50) + stanza + "\n" + stanza], { maxStanzaSize: stanza.length });
    assert.deepEqual(log.errors, []);
    assert.equal(log.stanzas.length, 2);
  });

  it("refuses a stanza one character over maxStanzaSize", () => {
    const stanza = "<message><body>" + "x".repeat(HEADER.length) + "</body></message>";
    const log = parse([HEADER, stanza], { maxStanzaSize: stanza.length - 1 });
    assert.equal(onlyError(log).condition, "policy-violation");
    assert.equal(log.stanzas.length, 0);
  });

  it("refuses a stanza made of many small elements", () => {
    const { parser, log } = collect({ maxStanzaSize: 5000 });
    parser.write(HEADER + "<iq type='set'><query xmlns='jabber:iq:roster'>");
    let written = 0;
    for (; written < 10000 && log.errors.length === 0; written++) parser.write("<item jid='someone@example.com'/>");
    assert.equal(onlyError(log).condition, "policy-violation");
    assert.ok(written < 200, `error after ${written} writes`);
  });

  for (const [what, open, filler] of [
    ["text node", "<message><body>", "a"],
    ["attribute value", "<message to='", "a"],
    ["element name", "<message", "a"],
    ["run of whitespace between stanzas", "", " "],
    ["entity reference name", "<message>&", "a"],
    ["CDATA section", "<message><![CDATA[", "a"],
  ] as const) {
    it(`refuses an oversized ${what} before all of it is written`, () => {
      const { parser, log } = collect({ maxStanzaSize: 10000 });
      parser.write(HEADER + open);
      const chunk = filler.repeat(1024);
      let written = 0;
      for (; written < 1000 && log.errors.length === 0; written++) parser.write(chunk);
      assert.equal(onlyError(log).condition, "policy-violation");
      // Memory held is the limit plus at most one chunk.
      assert.ok(written <= 11, `error after ${written} chunks of 1 KiB`);
    });
  }

  it("refuses an oversized stream header", () => {
    const { parser, log } = collect({ maxStanzaSize: 2000 });
    parser.write("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='");
    for (let i = 0; i < 100 && log.errors.length === 0; i++) parser.write("x".repeat(500));
    assert.equal(onlyError(log).condition, "policy-violation");
    assert.equal(log.headers.length, 0);
  });

  it("refuses elements nested deeper than maxDepth, the stanza being depth 1", () => {
    const nest = (n: number) => "<a>".repeat(n) + "</a>".repeat(n);
    assert.deepEqual(parse([HEADER, nest(4)], { maxDepth: 4 }).errors, []);
    const deep = parse([HEADER, nest(5)], { maxDepth: 4 });
    assert.equal(onlyError(deep).condition, "policy-violation");
    assert.equal(deep.stanzas.length, 0);
  });

  it("applies the default depth limit of 32", () => {
    const { parser, log } = collect();
    parser.write(HEADER);
    for (let i = 0; i < 10000 && log.errors.length === 0; i++) parser.write("<a>");
    assert.equal(onlyError(log).condition, "policy-violation");
  });
});

describe("reset (RFC 6120 §4.3.3)", () => {
  it("starts a new document, XML declaration included, after a reset from a stanza handler", () => {
    const { parser, log } = collect({}, (el, p) => {
      if (el.name === "success") p.reset();
    });
    parser.write(HEADER + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><presence/>");
    assert.deepEqual(log.events, ["start", "stanza:success"], "the rest of the chunk is discarded");
    parser.write(HEADER.replace("xml:lang='en'", "id='second'") + "<iq id='after'/>");
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.events, ["start", "stanza:success", "start", "stanza:iq"]);
    assert.equal(log.headers[1]!.attrs.id, "second");
  });

  it("works between writes and drops a partial stanza and partial UTF-8", () => {
    const { parser, log } = collect();
    parser.write(HEADER + "<message><body>half");
    parser.write(Buffer.from([0xc3]));
    parser.reset();
    parser.write(Buffer.from(HEADER + "<presence/>"));
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.events, ["start", "start", "stanza:presence"]);
  });

  it("clears a previous error", () => {
    const { parser, log } = collect();
    parser.write(HEADER + "<a></b>");
    parser.reset();
    parser.write(HEADER + "<presence/>");
    assert.deepEqual(log.events, ["start", "error:not-well-formed", "start", "stanza:presence"]);
  });

  it("resets from the streamStart handler too", () => {
    let starts = 0;
    const p: StreamParser = new StreamParser({
      streamStart() {
        if (++starts === 1) p.reset();
      },
      stanza() {},
      streamEnd() {},
      error(e) {
        throw e;
      },
    });
    p.write(HEADER + "<presence/>");
    p.write(HEADER);
    assert.equal(starts, 2);
  });
});

describe("fragments mode (RFC 7395)", () => {
  const opts = { mode: "fragments" } as const;

  it("emits each top-level element, with jabber:client as the implicit namespace", () => {
    const { parser, log } = collect(opts);
    parser.write("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>");
    parser.write(Buffer.from("<message to='a@b'><body>hï</body></message>"));
    parser.write("<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>");
    parser.write("<presence/> <presence type='unavailable'/>");
    parser.write("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.events, ["stanza:open", "stanza:message", "stanza:iq", "stanza:presence", "stanza:presence", "stanza:close"]);
    const [open, message, iq] = log.stanzas;
    assert.equal(open!.ns, "urn:ietf:params:xml:ns:xmpp-framing");
    assert.deepEqual(open!.attrs, { to: "example.com", version: "1.0" });
    assert.equal(message!.ns, "jabber:client");
    assert.equal(message!.getChild("body")!.ns, "jabber:client");
    assert.equal(message!.getChildText("body"), "hï");
    assert.equal(iq!.ns, "jabber:client");
    assert.equal(iq!.getChild("ping")!.ns, "urn:xmpp:ping");
    assert.equal(log.headers.length, 0);
    assert.equal(log.ends, 0);
  });

  it("accepts a stream error with its declared prefix", () => {
    const log = parse(["<stream:error xmlns:stream='http://etherx.jabber.org/streams'><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"], opts);
    assert.deepEqual(log.errors, []);
    assert.equal(log.stanzas[0]!.ns, NS_STREAM);
  });

  for (const [what, msg, condition] of [
    ["an incomplete element", "<message><body>hi</body>", "not-well-formed"],
    ["an unfinished tag", "<presence/><message", "not-well-formed"],
    ["an unfinished entity", "<message>&amp", "not-well-formed"],
    ["an unfinished CDATA section", "<message><![CDATA[x", "not-well-formed"],
    ["an attempt to close the synthetic wrapper", "<presence/></warbler-frame><presence/>", "not-well-formed"],
    ["text at the top level", "hello", "not-well-formed"],
    ["a comment", "<presence/><!-- x -->", "restricted-xml"],
    ["an XML declaration", "<?xml version='1.0'?><presence/>", "not-well-formed"],
  ] as const) {
    it(`rejects a message with ${what}, delivering none of it`, () => {
      const log = parse([msg], opts);
      assert.equal(onlyError(log).condition, condition);
      assert.equal(log.stanzas.length, 0);
    });
  }

  it("rejects a message that ends inside a UTF-8 sequence", () => {
    const bytes = Buffer.from("<message><body>é</body></message>");
    const cut = bytes.indexOf(0xc3) + 1;
    const log = parse([bytes.subarray(0, cut), bytes.subarray(cut)], opts);
    assert.equal(onlyError(log).condition, "not-well-formed");
  });

  it("applies the size limit per message", () => {
    const log = parse(["<message><body>" + "x".repeat(200) + "</body></message>"], { ...opts, maxStanzaSize: 100 });
    assert.equal(onlyError(log).condition, "policy-violation");
  });
});

describe("robustness", () => {
  // A deterministic PRNG so failures are reproducible.
  function prng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const sample = Buffer.from(
    HEADER +
      "<message to='a@b' xmlns:p='urn:p' p:x='&amp;'><body>héllo 😀 &lt;</body><![CDATA[x]]></message>" +
      "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq></stream:stream>",
  );
  const junk = ["<", ">", "&", "'", '"', "]]>", "<!", "<?", "</", "/", ":", "xmlns", "=", "\u0000", "\uffff"];

  for (const mode of ["stream", "fragments"] as const) {
    it(`never throws from write() on mutated input (${mode} mode), and errors at most once`, () => {
      const rand = prng(mode === "stream" ? 1 : 2);
      for (let n = 0; n < 400; n++) {
        let buf = Buffer.from(sample);
        const edits = 1 + Math.floor(rand() * 4);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(rand() * buf.length);
          const r = rand();
          if (r < 0.3) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + Math.floor(rand() * 5))]);
          else if (r < 0.6) buf[at] = Math.floor(rand() * 256);
          else buf = Buffer.concat([buf.subarray(0, at), Buffer.from(junk[Math.floor(rand() * junk.length)]!), buf.subarray(at)]);
        }
        const { parser, log } = collect({ mode, maxStanzaSize: 200 + Math.floor(rand() * 400) });
        let pos = 0;
        assert.doesNotThrow(() => {
          while (pos < buf.length) {
            const len = 1 + Math.floor(rand() * 40);
            parser.write(rand() < 0.5 ? buf.subarray(pos, pos + len) : buf.subarray(pos, pos + len).toString("latin1"));
            pos += len;
          }
          parser.end();
          parser.write("<more/>");
        }, `case ${n}`);
        assert.ok(log.errors.length <= 1, `case ${n}: ${log.errors.length} errors`);
        for (const err of log.errors) assert.ok(err instanceof XmlStreamError);
      }
    });
  }

  it("lets an exception from a handler propagate, and then stops", () => {
    const p = new StreamParser({
      streamStart() {},
      stanza() {
        throw new Error("handler bug");
      },
      streamEnd() {},
      error() {},
    });
    assert.throws(() => p.write(HEADER + "<presence/>"), /handler bug/);
    assert.doesNotThrow(() => p.write("<presence/>"));
  });

  it("queues a write made from inside a handler after the current chunk", () => {
    const { parser, log } = collect({}, (el, p) => {
      if (el.attr("id") === "1") p.write("<presence id='3'/>");
    });
    parser.write(HEADER + "<presence id='1'/><presence id='2'/>");
    assert.deepEqual(log.stanzas.map((s) => s.attr("id")), ["1", "2", "3"]);
  });

  it("ignores input after end()", () => {
    const { parser, log } = collect();
    parser.write(HEADER);
    parser.end();
    parser.write("<presence/>");
    assert.deepEqual(log.events, ["start"]);
  });
});
