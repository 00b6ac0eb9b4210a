// The account's uploads in its export: a Warbler element listing each file (urn:xmpp:warbler:upload:0)
// beside the files themselves in the archive (files/upload/<id>/<name>). Pure functions.
import { x, type Element } from "../../xml/element.js";
import { mediaType, sanitizeFilename } from "./policy.js";

/** Warbler's namespace for the list of uploaded files inside <user/>. */
export const NS_WARBLER_UPLOAD = "urn:xmpp:warbler:upload:0";

/** One uploaded file as listed in the export. */
export interface PortableUpload {
  /** The id in the exporting server's URLs. */
  id: string;
  filename: string;
  size: number;
  contentType: string;
  /** When it was uploaded, ms since the epoch. */
  when: number;
  /** Path of the content below files/upload/ in the archive. */
  path: string;
  /** The download URL on the exporting server, for the user's reference. */
  url?: string;
}

/** The archive path of a file: "<id>/<name>", or "<id>/file" when the name would make it too long. */
export function uploadPath(id: string, filename: string): string {
  const p = `${id}/${filename}`;
  return Buffer.byteLength(p, "utf8") <= 200 ? p : `${id}/file`;
}

/** The <uploads/> element for the listed files. */
export function uploadsElement(files: PortableUpload[]): Element {
  return x(
    "uploads",
    { xmlns: NS_WARBLER_UPLOAD },
    ...files.map((f) =>
      x("file", { id: f.id, name: f.filename, size: String(f.size), type: f.contentType, date: new Date(f.when).toISOString(), path: f.path, url: f.url }),
    ),
  );
}

/** The files listed in imported <uploads/> elements; entries with invalid attributes are counted, not returned. */
export function uploadsFromElements(elements: Element[]): { files: PortableUpload[]; invalid: number } {
  const files: PortableUpload[] = [];
  let invalid = 0;
  for (const el of elements) {
    for (const f of el.getChildren("file", NS_WARBLER_UPLOAD)) {
      const filename = sanitizeFilename(f.attrs.name ?? "");
      const sizeText = f.attrs.size ?? "";
      const when = Date.parse(f.attrs.date ?? "");
      const path = f.attrs.path ?? "";
      const type = mediaType(f.attrs.type ?? "") ?? "application/octet-stream";
      if (filename === undefined || !/^\d{1,15}$/.test(sizeText) || Number.isNaN(when) || path === "") {
        invalid++;
        continue;
      }
      files.push({ id: f.attrs.id ?? "", filename, size: Number(sizeText), contentType: type, when, path, url: f.attrs.url });
    }
  }
  return { files, invalid };
}
