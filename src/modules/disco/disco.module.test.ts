import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { capsVerification, contactAddressForm } from "./disco.module.js";
import { parseConfig } from "../../config/schema.js";

describe("disco", () => {
  it("computes the XEP-0115 §5.2 example verification string", () => {
    const ver = capsVerification(
      [{ category: "client", type: "pc", name: "Exodus 0.9.1" }],
      ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"],
      [],
    );
    assert.equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
  });

  it("builds the XEP-0157 serverinfo form only from configured addresses", () => {
    assert.equal(contactAddressForm(parseConfig({})), undefined);
    const form = contactAddressForm(parseConfig({ server: { contactAddresses: { abuse: ["mailto:abuse@example.com"] } } }))!;
    const fields = form.getChildren("field");
    assert.equal(fields[0]!.getChildText("value"), "http://jabber.org/network/serverinfo");
    assert.equal(fields[1]!.attrs.var, "abuse-addresses");
    assert.equal(fields[1]!.getChildText("value"), "mailto:abuse@example.com");
    assert.equal(fields.length, 2);
  });
});
