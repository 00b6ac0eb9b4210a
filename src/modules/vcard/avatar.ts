// Avatar conversions between vcard-temp PHOTO (XEP-0054, XEP-0153) and PEP avatars (XEP-0084),
// as XEP-0398 asks of the server. Pure functions.
import { createHash } from "node:crypto";
import { x, type Element } from "../../xml/element.js";

export const NS_VCARD = "vcard-temp";
export const NS_VCARD_UPDATE = "vcard-temp:x:update";
export const NS_AVATAR_DATA = "urn:xmpp:avatar:data";
export const NS_AVATAR_METADATA = "urn:xmpp:avatar:metadata";

/** An avatar image: its type, the base64 data as sent, and the XEP-0153/XEP-0084 id (SHA-1 hex of the bytes). */
export interface Photo {
  type: string;
  base64: string;
  bytes: number;
  sha1: string;
}

/** Builds a Photo from base64 text (whitespace allowed, RFC 4648 §3.3 as XEP-0054 binval); undefined when empty. */
export function photoFromBase64(type: string, text: string): Photo | undefined {
  const base64 = text.replace(/\s+/g, "");
  if (base64 === "") return undefined;
  const bin = Buffer.from(base64, "base64");
  if (bin.length === 0) return undefined;
  return { type, base64, bytes: bin.length, sha1: createHash("sha1").update(bin).digest("hex") };
}

/** The PHOTO of a vCard with inline data (XEP-0153 §3.1), or undefined (none, or only EXTVAL). */
export function photoOfVcard(vcard: Element): Photo | undefined {
  const p = vcard.getChild("PHOTO", NS_VCARD);
  const bin = p?.getChildText("BINVAL", NS_VCARD);
  if (!p || bin === undefined) return undefined;
  return photoFromBase64(p.getChildText("TYPE", NS_VCARD)?.trim() || "image/png", bin);
}

/** A copy of the vCard with its PHOTO replaced by `photo` (or removed when undefined). */
export function withPhoto(vcard: Element | undefined, photo: Photo | undefined): Element {
  const out = vcard ? vcard.clone() : x("vCard", { xmlns: NS_VCARD });
  out.children = out.children.filter((c) => typeof c === "string" || !(c.name === "PHOTO" && c.ns === NS_VCARD));
  if (photo) out.append(x("PHOTO", null, x("TYPE", null, photo.type), x("BINVAL", null, photo.base64)));
  return out;
}

/** XEP-0084 §4.2 metadata for a photo (empty metadata, §4.5, disables the avatar). */
export function metadataFor(photo: Photo | undefined): Element {
  const m = x("metadata", { xmlns: NS_AVATAR_METADATA });
  if (photo) m.append(x("info", { id: photo.sha1, type: photo.type, bytes: String(photo.bytes) }));
  return m;
}

/** The info of published metadata that a vCard can carry (one with inline data, not a URL), or undefined. */
export function inlineInfo(metadata: Element): { id: string; type: string } | undefined {
  for (const info of metadata.getChildren("info", NS_AVATAR_METADATA)) {
    const { id, type, url } = info.attrs;
    if (id && type && url === undefined) return { id, type };
  }
  return undefined;
}

/** The XEP-0153 §4.1 update element: <photo>hash</photo>, or an empty <photo/> for no avatar. */
export function updateElement(sha1: string): Element {
  return x("x", { xmlns: NS_VCARD_UPDATE }, x("photo", null, sha1 === "" ? null : sha1));
}
