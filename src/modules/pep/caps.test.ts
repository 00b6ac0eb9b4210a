import { describe, it } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { cryptoHashName, parseCaps, verificationString, verifyCaps } from "./caps.js";
import { parseXml } from "../../xml/parse-element.js";

const SIMPLE = `<query xmlns="http://jabber.org/protocol/disco#info">
  <identity category="client" name="Exodus 0.9.1" type="pc"/>
  <feature var="http://jabber.org/protocol/caps"/>
  <feature var="http://jabber.org/protocol/disco#info"/>
  <feature var="http://jabber.org/protocol/disco#items"/>
  <feature var="http://jabber.org/protocol/muc"/>
</query>`;

const COMPLEX = `<query xmlns="http://jabber.org/protocol/disco#info" node="http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=">
  <identity xml:lang="en" category="client" name="Psi 0.11" type="pc"/>
  <identity xml:lang="el" category="client" name="Ψ 0.11" type="pc"/>
  <feature var="http://jabber.org/protocol/caps"/>
  <feature var="http://jabber.org/protocol/disco#info"/>
  <feature var="http://jabber.org/protocol/disco#items"/>
  <feature var="http://jabber.org/protocol/muc"/>
  <x xmlns="jabber:x:data" type="result">
    <field var="FORM_TYPE" type="hidden"><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var="ip_version"><value>ipv4</value><value>ipv6</value></field>
    <field var="os"><value>Mac</value></field>
    <field var="os_version"><value>10.5.1</value></field>
    <field var="software"><value>Psi</value></field>
    <field var="software_version"><value>0.11</value></field>
  </x>
</query>`;

describe("entity capabilities (XEP-0115)", () => {
  it("verifies the §5.2 simple example", () => {
    const q = parseXml(SIMPLE);
    assert.equal(verificationString(q), "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<");
    assert.equal(verifyCaps(q, { hash: "sha-1", ver: "QgayPKawpkPSDYmwT/WM94uAlu0=" }), true);
    assert.equal(verifyCaps(q, { hash: "sha-1", ver: "q07IKJEyjvHSyhy//CH0CxmKi8w=" }), false);
  });

  it("verifies the §5.3 complex example (languages, extended info form)", () => {
    const q = parseXml(COMPLEX);
    assert.equal(
      verificationString(q),
      "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<",
    );
    assert.equal(verifyCaps(q, { hash: "sha-1", ver: "q07IKJEyjvHSyhy//CH0CxmKi8w=" }), true);
  });

  it("supports other hash functions and refuses unknown ones", () => {
    const q = parseXml(SIMPLE);
    const s = verificationString(q)!;
    assert.equal(verifyCaps(q, { hash: "sha-256", ver: createHash("sha256").update(s).digest("base64") }), true);
    assert.equal(cryptoHashName("sha-1"), "sha1");
    assert.equal(cryptoHashName("md2"), undefined);
    assert.equal(verifyCaps(q, { hash: "no-such-hash", ver: "x" }), false);
  });

  it("rejects ill-formed answers (§5.4): repeated features or identities, FORM_TYPE not hidden", () => {
    const dupFeature = parseXml(SIMPLE.replace("</query>", '<feature var="http://jabber.org/protocol/muc"/></query>'));
    assert.equal(verificationString(dupFeature), undefined);
    const dupIdentity = parseXml(SIMPLE.replace("</query>", '<identity category="client" name="Exodus 0.9.1" type="pc"/></query>'));
    assert.equal(verificationString(dupIdentity), undefined);
    assert.equal(verificationString(parseXml(COMPLEX.replace('type="hidden"', 'type="text-single"'))), undefined);
  });

  it("reads <c/> from a presence; legacy caps without hash are ignored", () => {
    const p = parseXml(`<presence xmlns="jabber:client"><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="http://conversations.im" ver="abc="/></presence>`);
    assert.deepEqual(parseCaps(p), { node: "http://conversations.im", ver: "abc=", hash: "sha-1" });
    assert.equal(parseCaps(parseXml(`<presence xmlns="jabber:client"><c xmlns="http://jabber.org/protocol/caps" node="n" ver="1.0"/></presence>`)), undefined);
  });
});
