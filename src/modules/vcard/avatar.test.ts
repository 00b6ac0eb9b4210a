import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { inlineInfo, metadataFor, photoOfVcard, updateElement, withPhoto } from "./avatar.js";
import { parseXml } from "../../xml/parse-element.js";

const BYTES = Buffer.from("not really a png");
const B64 = BYTES.toString("base64");
const SHA1 = createHash("sha1").update(BYTES).digest("hex");

describe("avatar conversion (XEP-0398, XEP-0153, XEP-0084)", () => {
  it("reads the vCard photo and hashes the bytes, not the base64", () => {
    const v = parseXml(`<vCard xmlns="vcard-temp"><FN>J</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${B64.slice(0, 8)}\n${B64.slice(8)}</BINVAL></PHOTO></vCard>`);
    const p = photoOfVcard(v)!;
    assert.equal(p.sha1, SHA1);
    assert.equal(p.bytes, BYTES.length);
    assert.equal(p.base64, B64);
    assert.equal(metadataFor(p).toString(), `<metadata xmlns="urn:xmpp:avatar:metadata"><info id="${SHA1}" type="image/png" bytes="${BYTES.length}"/></metadata>`);
    assert.deepEqual(inlineInfo(metadataFor(p)), { id: SHA1, type: "image/png" });
    assert.equal(photoOfVcard(withPhoto(v, undefined)), undefined);
    assert.equal(withPhoto(v, undefined).getChildText("FN"), "J");
  });

  it("builds the XEP-0153 update element, empty photo for no avatar", () => {
    assert.equal(updateElement("").toString(), `<x xmlns="vcard-temp:x:update"><photo/></x>`);
    assert.equal(updateElement(SHA1).toString(), `<x xmlns="vcard-temp:x:update"><photo>${SHA1}</photo></x>`);
  });
});
