import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { itemsToLegacy, legacyToItems } from "./bookmarks.js";
import { parseXml } from "../../xml/parse-element.js";

describe("bookmarks conversion (XEP-0402 §5.3, XEP-0048)", () => {
  it("turns legacy conferences into items by room JID and back, keeping URLs", () => {
    const legacy = parseXml(
      `<storage xmlns="storage:bookmarks"><conference jid="Room@muc.example" name="The Room" autojoin="1"><nick>juliet</nick><password>pw</password></conference><conference jid="bad jid"/><url name="site" url="https://example.com"/></storage>`,
    );
    const items = legacyToItems(legacy);
    assert.deepEqual([...items.keys()], ["room@muc.example"]);
    const item = items.get("room@muc.example")!;
    assert.equal(item.toString(), `<conference xmlns="urn:xmpp:bookmarks:1" name="The Room" autojoin="true"><nick>juliet</nick><password>pw</password></conference>`);
    const back = itemsToLegacy([{ id: "room@muc.example", payload: item }], legacy);
    assert.equal(
      back.toString(),
      `<storage xmlns="storage:bookmarks"><conference jid="room@muc.example" name="The Room" autojoin="true"><nick>juliet</nick><password>pw</password></conference><url name="site" url="https://example.com"/></storage>`,
    );
  });
});

describe("private XML in the import (XEP-0227 §4)", () => {
  it("stores each element by name and namespace, later ones winning, reserved namespaces skipped", async () => {
    const { privateEntries } = await import("./private.module.js");
    const q = parseXml(
      `<query xmlns="jabber:iq:private"><exodus xmlns="exodus:prefs"><defaultnick>A</defaultnick></exodus><x xmlns="jabber:iq:roster"/><exodus xmlns="exodus:prefs"><defaultnick>B</defaultnick></exodus><storage xmlns="storage:bookmarks"/></query>`,
    );
    const { entries, skipped } = privateEntries([q]);
    assert.deepEqual(Object.keys(entries).sort(), ["{exodus:prefs}exodus", "{storage:bookmarks}storage"]);
    assert.equal(skipped, 1);
    assert.match(JSON.stringify(entries["{exodus:prefs}exodus"]), /"B"/);
  });
});
