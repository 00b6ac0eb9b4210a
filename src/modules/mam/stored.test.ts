// Tests of the archive row format: a stanza survives the trip to storage and back.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { storedReader, toStored } from "./stored.js";

describe("stored messages", () => {
  it("round-trip with namespaces, attributes and escaping", () => {
    const m = x(
      "message",
      { xmlns: "jabber:client", from: "a@b/r", to: "c@d", type: "chat", "xml:lang": "en" },
      x("body", null, "<&> \"quotes\" \r\n"),
      x("encrypted", { xmlns: "eu.siacs.conversations.axolotl" }, x("header", { sid: "1" })),
    );
    const read = storedReader();
    const back = read(toStored(m));
    assert.ok(back);
    assert.equal(back.toString(), m.toString());
    assert.equal(back.ns, "jabber:client");
    assert.equal(back.getChild("encrypted")?.ns, "eu.siacs.conversations.axolotl");
  });
  it("survives a damaged row and reads the next one", () => {
    const read = storedReader();
    assert.equal(read("<message><body>"), undefined);
    const ok = read(toStored(x("message", { xmlns: "jabber:client" }, x("body", null, "fine"))));
    assert.equal(ok?.getChildText("body"), "fine");
  });
  it("reads rows of earlier versions ({ dir, xml })", () => {
    const read = storedReader();
    const old = read({ dir: "in", xml: '<message xmlns="jabber:client"><body>old</body></message>' });
    assert.equal(old?.getChildText("body"), "old");
    assert.equal(old?.ns, "jabber:client");
  });
});
