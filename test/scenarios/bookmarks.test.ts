// Scenario tests over real sockets for private XML storage (XEP-0049) and bookmarks: XEP-0402
// (urn:xmpp:bookmarks:1) and legacy XEP-0048 bookmarks in private storage and in PEP stay in step
// both ways (XEP-0402 §5.3, XEP-0411).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";

const NS_PRIVATE = "jabber:iq:private";
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_B2 = "urn:xmpp:bookmarks:1";
const NS_LEGACY = "storage:bookmarks";

describe("private storage (XEP-0049) and bookmarks (XEP-0402, XEP-0048)", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const d = () => server.domain;
  const connect = async (user: string, resource: string) => {
    const c = await connectClient(server, user, user + "pass", { resource });
    open.push(c);
    return c;
  };
  const privateGet = async (c: TestClient, child: XmlElement, to?: string) => (await c.iq(xml("iq", { type: "get", to }, xml("query", { xmlns: NS_PRIVATE }, child)))).getChild("query", NS_PRIVATE)!;
  const legacy = async (c: TestClient) => privateGet(c, xml("storage", { xmlns: NS_LEGACY })).then((q) => q.getChild("storage", NS_LEGACY)!);
  const items = async (c: TestClient, node: string) =>
    (await c.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node }))))).getChild("pubsub")!.getChild("items")!.getChildren("item");
  const rejectsWith = (p: Promise<unknown>, cond: string) => assert.rejects(p, (e: { condition?: string }) => e.condition === cond);

  before(async () => {
    server = await startTestServer();
    for (const u of ["hamlet", "horatio"]) await server.createAccount(u, u + "pass");
  });
  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("stores and returns private XML; refuses other accounts and reserved namespaces", async () => {
    const h = await connect("hamlet", "p");
    await h.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_PRIVATE }, xml("exodus", { xmlns: "exodus:prefs" }, xml("defaultnick", {}, "Hamlet")))));
    const q = await privateGet(h, xml("exodus", { xmlns: "exodus:prefs" }));
    assert.equal(q.getChild("exodus", "exodus:prefs")!.getChildText("defaultnick"), "Hamlet");
    assert.equal((await privateGet(h, xml("other", { xmlns: "urn:example:none" }))).getChild("other", "urn:example:none")!.children.length, 0, "nothing stored: the empty element");
    const o = await connect("horatio", "p");
    await rejectsWith(o.iq(xml("iq", { type: "get", to: `hamlet@${d()}` }, xml("query", { xmlns: NS_PRIVATE }, xml("exodus", { xmlns: "exodus:prefs" })))), "forbidden");
    await rejectsWith(o.iq(xml("iq", { type: "set", to: `hamlet@${d()}` }, xml("query", { xmlns: NS_PRIVATE }, xml("exodus", { xmlns: "exodus:prefs" })))), "forbidden");
    await rejectsWith(h.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_PRIVATE }, xml("message", { xmlns: "jabber:client" })))), "not-acceptable");
    await rejectsWith(h.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_PRIVATE }, xml("vCard", { xmlns: "vcard-temp" })))), "not-acceptable");
    await rejectsWith(h.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS_PRIVATE }))), "not-acceptable");
  });

  it("announces bookmarks #compat and #compat-pep (XEP-0402 §5.3)", async () => {
    const h = await connect("hamlet", "disco");
    const info = await h.iq(xml("iq", { type: "get", to: `hamlet@${d()}` }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const features = info.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
    assert.ok(features.includes(`${NS_B2}#compat`));
    assert.ok(features.includes(`${NS_B2}#compat-pep`));
  });

  it("legacy bookmarks in private storage appear as XEP-0402 items and in the legacy PEP node", async () => {
    const h = await connect("hamlet", "old-client");
    await h.iq(
      xml(
        "iq",
        { type: "set" },
        xml(
          "query",
          { xmlns: NS_PRIVATE },
          xml("storage", { xmlns: NS_LEGACY }, xml("conference", { jid: "elsinore@muc.example", name: "Elsinore", autojoin: "true" }, xml("nick", {}, "hamlet")), xml("url", { name: "site", url: "https://example.com" })),
        ),
      ),
    );
    const b2 = await items(h, NS_B2);
    assert.deepEqual(b2.map((i) => i.attrs.id), ["elsinore@muc.example"]);
    const conf = b2[0]!.getChild("conference", NS_B2)!;
    assert.equal(conf.attrs.name, "Elsinore");
    assert.equal(conf.attrs.autojoin, "true");
    assert.equal(conf.getChildText("nick"), "hamlet");
    const pepLegacy = await items(h, NS_LEGACY);
    assert.equal(pepLegacy[0]!.getChild("storage", NS_LEGACY)!.getChild("conference")!.attrs.jid, "elsinore@muc.example");
    // XEP-0402 §3: the node is private (whitelist) and keeps every bookmark
    const form = await h.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: "http://jabber.org/protocol/pubsub#owner" }, xml("configure", { node: NS_B2 }))));
    const fields = form.getChild("pubsub")!.getChild("configure")!.getChild("x")!.getChildren("field");
    assert.equal(fields.find((f) => f.attrs.var === "pubsub#access_model")!.getChildText("value"), "whitelist");
    assert.equal(fields.find((f) => f.attrs.var === "pubsub#max_items")!.getChildText("value"), "max");
  });

  it("XEP-0402 publishes and retractions (as Conversations sends them) appear in legacy storage, URLs kept", async () => {
    const h = await connect("hamlet", "new-client");
    const options = xml(
      "publish-options",
      {},
      xml(
        "x",
        { xmlns: "jabber:x:data", type: "submit" },
        xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "http://jabber.org/protocol/pubsub#publish-options")),
        xml("field", { var: "pubsub#persist_items" }, xml("value", {}, "true")),
        xml("field", { var: "pubsub#max_items" }, xml("value", {}, "max")),
        xml("field", { var: "pubsub#send_last_published_item" }, xml("value", {}, "never")),
        xml("field", { var: "pubsub#access_model" }, xml("value", {}, "whitelist")),
      ),
    );
    await h.iq(
      xml(
        "iq",
        { type: "set" },
        xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: NS_B2 }, xml("item", { id: "council@muc.example" }, xml("conference", { xmlns: NS_B2, name: "Council", autojoin: "false" }, xml("nick", {}, "prince")))), options),
      ),
    );
    let storage = await legacy(h);
    const rooms = storage.getChildren("conference").map((c) => c.attrs.jid).sort();
    assert.deepEqual(rooms, ["council@muc.example", "elsinore@muc.example"]);
    assert.equal(storage.getChildren("conference").find((c) => c.attrs.jid === "council@muc.example")!.getChildText("nick"), "prince");
    assert.equal(storage.getChild("url")!.attrs.url, "https://example.com", "XEP-0402 has no URLs; the legacy ones stay");
    await h.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("retract", { node: NS_B2, notify: "true" }, xml("item", { id: "elsinore@muc.example" })))));
    storage = await legacy(h);
    assert.deepEqual(storage.getChildren("conference").map((c) => c.attrs.jid), ["council@muc.example"]);
    const pepLegacy = await items(h, NS_LEGACY);
    assert.deepEqual(pepLegacy[0]!.getChild("storage", NS_LEGACY)!.getChildren("conference").map((c) => c.attrs.jid), ["council@muc.example"]);
  });

  it("a legacy PEP bookmarks publish (XEP-0048 over PEP) updates the other two forms", async () => {
    const h = await connect("hamlet", "pep-legacy");
    await h.iq(
      xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: NS_LEGACY }, xml("item", { id: "current" }, xml("storage", { xmlns: NS_LEGACY }, xml("conference", { jid: "graveyard@muc.example", autojoin: "true" })))))),
    );
    assert.deepEqual((await items(h, NS_B2)).map((i) => i.attrs.id), ["graveyard@muc.example"]);
    assert.deepEqual((await legacy(h)).getChildren("conference").map((c) => c.attrs.jid), ["graveyard@muc.example"]);
    // another account cannot read the bookmarks (whitelist)
    const o = await connect("horatio", "peek");
    await rejectsWith(o.iq(xml("iq", { type: "get", to: `hamlet@${d()}` }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node: NS_B2 })))), "not-allowed");
  });
});
