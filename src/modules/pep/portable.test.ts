import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { configFromForm, configSubmitForm, nodesFromElements, nodesToElements, type PortableNode } from "./portable.js";
import { defaultConfig, sameConfig } from "./config.js";
import { parseXml } from "../../xml/parse-element.js";
import { parseDocument } from "../../core/lifecycle/xep0227.js";

const FIXTURE = new URL("../../../test/fixtures/xep0227/prosody/alice@localhost.xml", import.meta.url);

describe("PEP nodes in XEP-0227 form", () => {
  it("round-trips nodes with configuration, affiliations and items in order", () => {
    const nodes: PortableNode[] = [
      {
        node: "eu.siacs.conversations.axolotl.devicelist",
        config: { ...defaultConfig(), access_model: "open", max_items: "max", roster_groups_allowed: [], title: "Devices" },
        affiliations: { "friend@example.org": "member", "foe@example.org": "outcast" },
        items: [{ id: "current", payload: parseXml(`<list xmlns="eu.siacs.conversations.axolotl"><device id="1"/></list>`) }],
      },
      {
        node: "urn:xmpp:avatar:metadata",
        config: { ...defaultConfig(), access_model: "roster", roster_groups_allowed: ["Friends", "Work"], max_items: 3 },
        affiliations: {},
        items: [
          { id: "a", payload: parseXml(`<metadata xmlns="urn:xmpp:avatar:metadata"/>`) },
          { id: "b", payload: parseXml(`<metadata xmlns="urn:xmpp:avatar:metadata"><info id="b" bytes="1" type="image/png"/></metadata>`) },
        ],
      },
    ];
    const els = nodesToElements("me@example.com", nodes);
    assert.equal(els.length, 2);
    // serialized and parsed back, as the export file is
    const back = nodesFromElements("me@example.com", els.map((e) => parseXml(e.toString())), 256);
    assert.deepEqual(back.notes, []);
    assert.equal(back.nodes.length, 2);
    for (const [i, n] of back.nodes.entries()) {
      const want = nodes[i]!;
      assert.equal(n.node, want.node);
      assert.ok(sameConfig(n.config!, want.config!), n.node);
      assert.equal(n.config!.title, want.config!.title);
      assert.deepEqual(n.affiliations, want.affiliations);
      assert.deepEqual(n.items.map((it) => [it.id, it.payload.toString()]), want.items.map((it) => [it.id, it.payload.toString()]));
    }
  });

  it("writes no element for an account without nodes, and the owner's affiliation explicitly", () => {
    assert.deepEqual(nodesToElements("me@example.com", []), []);
    const [owner] = nodesToElements("me@example.com", [{ node: "n", config: defaultConfig(), affiliations: {}, items: [] }]);
    assert.equal(owner!.getChild("affiliations")!.getChild("affiliation")!.attrs.affiliation, "owner");
  });

  it("reads Prosody 0.12's nodes: empty fields skipped, persist_items=0 ignored, items without configuration kept", () => {
    const doc = parseDocument(readFileSync(FIXTURE, "utf8"));
    const user = doc.getChild("host")!.getChild("user")!;
    const { nodes, notes } = nodesFromElements("alice@localhost", user.getChildren("pubsub"), 256);
    const byName = new Map(nodes.map((n) => [n.node, n]));
    assert.deepEqual([...byName.keys()].sort(), ["http://jabber.org/protocol/nick", "storage:bookmarks", "urn:xmpp:vcard4"]);
    const bm = byName.get("storage:bookmarks")!;
    assert.equal(bm.config!.access_model, "whitelist");
    assert.equal(bm.config!.send_last_published_item, "never");
    assert.equal(bm.config!.max_items, 1);
    assert.deepEqual(bm.affiliations, {}, "the owner is implicit");
    assert.equal(byName.get("urn:xmpp:vcard4")!.config!.access_model, "open");
    assert.equal(byName.get("urn:xmpp:vcard4")!.items[0]!.payload.getChild("fn")!.getChildText("text"), "Alice Example");
    assert.equal(byName.get("http://jabber.org/protocol/nick")!.items[0]!.payload.text(), "Alice N");
    assert.deepEqual(notes, []);
  });

  it("leaves unsupported settings at their defaults and reports them", () => {
    const form = parseXml(
      `<x xmlns="jabber:x:data" type="submit"><field var="pubsub#access_model"><value>authorize</value></field><field var="pubsub#max_items"><value>100000</value></field><field var="pubsub#publish_model"><value>open</value></field><field var="pubsub#notify_retract"><value>0</value></field></x>`,
    );
    const { config, skipped } = configFromForm(form, 256);
    assert.equal(config.access_model, "presence");
    assert.equal(config.max_items, "max", "above the server's limit");
    assert.equal(config.notify_retract, false);
    assert.deepEqual(skipped.sort(), ["pubsub#access_model", "pubsub#publish_model"]);
    assert.ok(sameConfig(configFromForm(configSubmitForm(config), 256).config, config));
  });

  it("skips items without an id or payload, and invalid affiliations", () => {
    const els = [
      parseXml(`<pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="n"><item><a xmlns="urn:a"/></item><item id="x"/><item id="y"><a xmlns="urn:a"/></item></items></pubsub>`),
      parseXml(`<pubsub xmlns="http://jabber.org/protocol/pubsub#owner"><affiliations node="n"><affiliation jid="not a jid" affiliation="member"/><affiliation jid="a@b" affiliation="king"/><affiliation jid="c@d" affiliation="publisher"/></affiliations></pubsub>`),
    ];
    const { nodes, notes } = nodesFromElements("me@example.com", els, 256);
    assert.deepEqual(nodes[0]!.items.map((i) => i.id), ["y"]);
    assert.equal(nodes[0]!.config, undefined);
    assert.deepEqual(nodes[0]!.affiliations, { "c@d": "publisher" });
    assert.equal(notes.length, 2);
  });
});
