// XEP-0227 reading and writing: documents, XInclude, the SCRAM credentials of the real Prosody and
// ejabberd fixtures (test/fixtures/xep0227), and the clean-up of imported messages.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { x } from "../../xml/element.js";
import { deriveCredentials, verifyPassword } from "../sasl/credentials.js";
import {
  NS_PIE,
  NS_PIE_SCRAM,
  Xep0227Error,
  cleanImportedMessage,
  credentialsFromUser,
  documentText,
  parseDocument,
  parseStamp,
  readXep0227File,
  scramElements,
} from "./xep0227.js";

const FIXTURES = new URL("../../../test/fixtures/xep0227/", import.meta.url).pathname;

describe("XEP-0227 documents", () => {
  it("parses a document with an XML declaration and writes one back", () => {
    const doc = parseDocument(`<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'><host jid='h'><user name='u'/></host></server-data>`);
    assert.equal(doc.ns, NS_PIE);
    assert.equal(doc.getChild("host")?.getChild("user")?.attrs.name, "u");
    const again = parseDocument(documentText(doc));
    assert.equal(again.toString(), doc.toString());
  });

  it("refuses what Warbler's parser refuses, and more than one root", () => {
    for (const bad of ["<a><!-- c --></a>", "<!DOCTYPE a><a/>", "<a>", "<a/><b/>", "<a><?pi x?></a>"]) {
      assert.throws(() => parseDocument(bad), Xep0227Error, bad);
    }
  });

  it("follows ejabberd's XIncludes and wraps Prosody's per-user files", async () => {
    const ej = await readXep0227File(join(FIXTURES, "ejabberd", "20261125-133941.xml"));
    assert.deepEqual(ej.getChild("host")!.getChildren("user").map((u) => u.attrs.name), ["alice", "bob", "carol"]);
    const pr = await readXep0227File(join(FIXTURES, "prosody", "alice@localhost.xml"));
    assert.equal(pr.getChild("host")?.attrs.jid, "localhost");
  });

  it("refuses XIncludes that leave the export's directory or are not relative", async () => {
    const dir = await mkdtemp(join(tmpdir(), "warbler-xi-"));
    try {
      for (const href of ["../outside.xml", "/etc/passwd", "http://example.com/x.xml", "file:///etc/passwd"]) {
        const f = join(dir, "main.xml");
        await writeFile(f, `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='${href}'/></server-data>`);
        await assert.rejects(readXep0227File(f), Xep0227Error, href);
      }
      await writeFile(join(dir, "self.xml"), `<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='self.xml'/></server-data>`);
      await assert.rejects(readXep0227File(join(dir, "self.xml")), /includes itself/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("XEP-0227 SCRAM credentials", () => {
  const userOf = async (file: string, name: string) => {
    const doc = await readXep0227File(join(FIXTURES, file));
    return doc.getChild("host")!.getChildren("user").find((u) => u.attrs.name === name)!;
  };

  for (const [tool, file] of [
    ["Prosody (base64)", "prosody/alice@localhost.xml"],
    ["ejabberd (base64 twice)", "ejabberd/20261125-133941.xml"],
  ] as const) {
    it(`reads ${tool} keys that match the original password`, async () => {
      const creds = credentialsFromUser(await userOf(file, "alice"));
      assert.ok(creds && creds["SHA-1"] && !creds["SHA-256"]);
      const derived = await deriveCredentials("pw-alice-123", creds.iterations, creds.salt);
      assert.deepEqual(creds["SHA-1"], derived["SHA-1"]);
      assert.ok(await verifyPassword(creds, "pw-alice-123"));
      assert.ok(!(await verifyPassword(creds, "pw-bob-123")));
    });
  }

  it("writes both hashes and reads them back", async () => {
    const creds = await deriveCredentials("pw", 4096);
    const user = x("user", { xmlns: NS_PIE, name: "u" }, ...scramElements(creds));
    assert.equal(user.getChildren("scram-credentials", NS_PIE_SCRAM).length, 2);
    assert.deepEqual(credentialsFromUser(parseDocument(user.toString())), creds);
  });

  it("keeps only SHA-256 when the hashes disagree on the salt, and ignores broken elements", async () => {
    const a = await deriveCredentials("pw", 4096);
    const b = await deriveCredentials("pw", 4096);
    const [sha1] = scramElements({ ...a, "SHA-256": undefined });
    const [sha256] = scramElements({ ...b, "SHA-1": undefined });
    const mixed = credentialsFromUser(x("user", { xmlns: NS_PIE }, sha1!, sha256!));
    assert.ok(mixed && mixed["SHA-256"] && !mixed["SHA-1"]);
    const broken = x("user", { xmlns: NS_PIE }, x("scram-credentials", { xmlns: NS_PIE_SCRAM, mechanism: "SCRAM-SHA-1" }, x("iter-count", null, "0")));
    assert.equal(credentialsFromUser(broken), undefined);
  });
});

describe("imported messages", () => {
  it("drop the old server's delay, stanza id and <archived/>, keeping others' ids", () => {
    const m = parseDocument(
      `<message xmlns='jabber:client' from='a@x/r' to='c@x'><archived by='c@x' id='1' xmlns='urn:xmpp:mam:tmp'/><stanza-id by='c@x' id='1' xmlns='urn:xmpp:sid:0'/><stanza-id by='room@muc' id='9' xmlns='urn:xmpp:sid:0'/><delay from='x' stamp='2026-11-25T13:38:30.840202Z' xmlns='urn:xmpp:delay'>Offline storage</delay><body>hi</body></message>`,
    );
    const { stanza, when } = cleanImportedMessage(m, "c@x");
    assert.equal(when, Date.parse("2026-11-25T13:38:30.840Z"));
    assert.deepEqual(stanza.elements().map((e) => e.name), ["stanza-id", "body"]);
    assert.equal(stanza.getChild("stanza-id")?.attrs.by, "room@muc");
    assert.equal(parseStamp("yesterday"), undefined);
  });
});
