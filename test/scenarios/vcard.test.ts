// Scenario tests over real sockets for vcard-temp (XEP-0054): set and get for the account and
// others, the size limit, the XEP-0398 conversion of a vCard photo to PEP avatars (XEP-0084),
// the XEP-0153 hash in presence, and vCard4 over PEP (XEP-0292).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient } from "../helpers/client.js";

const NS_VCARD = "vcard-temp";
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

describe("vCard (XEP-0054) and avatar conversion (XEP-0398)", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const d = () => server.domain;
  const connect = async (user: string, resource: string) => {
    const c = await connectClient(server, user, user + "pass", { resource });
    open.push(c);
    return c;
  };
  const getVcard = async (c: TestClient, to?: string) => (await c.iq(xml("iq", { type: "get", to }, xml("vCard", { xmlns: NS_VCARD })))).getChild("vCard", NS_VCARD)!;
  const items = async (c: TestClient, node: string) =>
    (await c.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node }))))).getChild("pubsub")!.getChild("items")!.getChildren("item");

  before(async () => {
    server = await startTestServer({ vcard: { maxSize: 4096 } });
    for (const u of ["juliet", "romeo"]) await server.createAccount(u, u + "pass");
  });
  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("announces vcard-temp and the XEP-0398 conversion", async () => {
    const j = await connect("juliet", "disco");
    const info = await j.iq(xml("iq", { type: "get", to: `juliet@${d()}` }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const features = info.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
    assert.ok(features.includes(NS_VCARD));
    assert.ok(features.includes("urn:xmpp:pep-vcard-conversion:0"));
  });

  it("sets and gets the own vCard; others read it and cannot set it; the size limit holds", async () => {
    const j = await connect("juliet", "v");
    const r = await connect("romeo", "v");
    assert.equal((await getVcard(r, `juliet@${d()}`)).children.length, 0, "no vCard yet: an empty one");
    await j.iq(xml("iq", { type: "set" }, xml("vCard", { xmlns: NS_VCARD }, xml("FN", {}, "Juliet Capulet"), xml("NICKNAME", {}, "jc"))));
    assert.equal((await getVcard(j)).getChildText("FN"), "Juliet Capulet");
    assert.equal((await getVcard(r, `juliet@${d()}`)).getChildText("NICKNAME"), "jc");
    await assert.rejects(r.iq(xml("iq", { type: "set", to: `juliet@${d()}` }, xml("vCard", { xmlns: NS_VCARD }, xml("FN", {}, "Mallory")))), (e: { condition?: string }) => e.condition === "forbidden");
    await assert.rejects(j.iq(xml("iq", { type: "set" }, xml("vCard", { xmlns: NS_VCARD }, xml("DESC", {}, "x".repeat(5000))))), (e: { condition?: string }) => e.condition === "not-acceptable");
    assert.equal((await getVcard(j)).getChildText("FN"), "Juliet Capulet", "the refused vCard left the old one");
    // a vCard of an account that does not exist: service-unavailable (RFC 6121 §8.5.1)
    await assert.rejects(j.iq(xml("iq", { type: "get", to: `nobody@${d()}` }, xml("vCard", { xmlns: NS_VCARD }))), (e: { condition?: string }) => e.condition === "service-unavailable");
  });

  it("a vCard photo becomes the PEP avatar, and the hash rides on presence (XEP-0398 §4, XEP-0153)", async () => {
    const j = await connect("juliet", "photo");
    await j.send(xml("presence"));
    await j.waitFor((s) => s.is("presence") && s.attrs.from === j.jid && s.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === "");
    const img = Buffer.from("a tiny avatar");
    const sha1 = createHash("sha1").update(img).digest("hex");
    await j.iq(xml("iq", { type: "set" }, xml("vCard", { xmlns: NS_VCARD }, xml("FN", {}, "Juliet"), xml("PHOTO", {}, xml("TYPE", {}, "image/png"), xml("BINVAL", {}, img.toString("base64"))))));
    const meta = await items(j, "urn:xmpp:avatar:metadata");
    assert.equal(meta[0]!.attrs.id, sha1);
    assert.equal(meta[0]!.getChild("metadata")!.getChild("info")!.attrs.bytes, String(img.length));
    const data = await items(j, "urn:xmpp:avatar:data");
    assert.equal(data[0]!.getChildText("data"), img.toString("base64"));
    // the server re-sends presence with the new hash
    await j.waitFor((s) => s.is("presence") && s.attrs.from === j.jid && s.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === sha1);
    // removing the photo disables the avatar (XEP-0084 §4.5: empty metadata)
    await j.iq(xml("iq", { type: "set" }, xml("vCard", { xmlns: NS_VCARD }, xml("FN", {}, "Juliet"))));
    const after = await items(j, "urn:xmpp:avatar:metadata");
    assert.equal(after.at(-1)!.getChild("metadata")!.getChildren("info").length, 0);
  });

  it("vCard4 is a PEP node (XEP-0292)", async () => {
    const j = await connect("juliet", "v4");
    const card = xml("vcard", { xmlns: "urn:ietf:params:xml:ns:vcard-4.0" }, xml("fn", {}, xml("text", {}, "Juliet")));
    await j.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: "urn:xmpp:vcard4" }, xml("item", { id: "current" }, card)))));
    const got = await items(j, "urn:xmpp:vcard4");
    assert.equal(got[0]!.getChild("vcard")!.getChild("fn")!.getChildText("text"), "Juliet");
  });
});
