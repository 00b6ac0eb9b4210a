import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { uploadPath, uploadsElement, uploadsFromElements, type PortableUpload } from "./portable.js";
import { parseXml } from "../../xml/parse-element.js";

describe("uploads in the export", () => {
  it("lists files and reads the list back", () => {
    const files: PortableUpload[] = [
      { id: "A".repeat(24), filename: "holiday photo.jpg", size: 1234, contentType: "image/jpeg", when: Date.UTC(2026, 10, 1, 12), path: uploadPath("A".repeat(24), "holiday photo.jpg"), url: "https://example.com/upload/x/holiday%20photo.jpg" },
    ];
    const el = parseXml(uploadsElement(files).toString());
    assert.deepEqual(uploadsFromElements([el]), { files, invalid: 0 });
  });

  it("keeps archive paths short", () => {
    assert.equal(uploadPath("id", "a.txt"), "id/a.txt");
    assert.equal(uploadPath("id", "é".repeat(150)), "id/file");
  });

  it("skips entries with unsafe names, bad sizes or dates", () => {
    const el = parseXml(
      `<uploads xmlns="urn:xmpp:warbler:upload:0"><file name="../x" size="1" date="2026-01-01T00:00:00Z" path="p"/><file name="a" size="-1" date="2026-01-01T00:00:00Z" path="p"/><file name="a" size="1" date="soon" path="p"/><file name="a" size="1" date="2026-01-01T00:00:00Z" path="p" type="bad type"/></uploads>`,
    );
    const { files, invalid } = uploadsFromElements([el]);
    assert.equal(invalid, 3);
    assert.equal(files[0]!.contentType, "application/octet-stream");
  });
});
