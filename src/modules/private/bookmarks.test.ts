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
