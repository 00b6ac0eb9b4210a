// What an archive row holds: the message as XML text (XEP-0313 §3: the stanza itself, SHOULD be
// stored whole), and the way back to an element when a query returns it.
import { storedXmlReader } from "../../xml/parse-element.js";
import type { Element } from "../../xml/element.js";

/**
 * The value of one `archive` row: the stanza serialized with its jabber:client namespace. Storage
 * keeps a string as it is (no JSON escaping on the way in, no parsing on the way out). Rows of
 * earlier versions hold `{ dir, xml }` and are read the same way (their direction was never used:
 * the stanza's own from and to tell it).
 */
export type ArchivedMessage = string | { dir?: "in" | "out"; xml: string };

/** Serializes a message for the archive. */
export function toStored(stanza: Element): string {
  return stanza.toString();
}

/** The XML text of a stored message, in either form. */
export function storedXml(v: ArchivedMessage): string {
  return typeof v === "string" ? v : v.xml;
}

/** Parses stored messages back (one parser for a whole page); undefined for an unreadable row. */
export function storedReader(): (v: ArchivedMessage) => Element | undefined {
  const read = storedXmlReader();
  return (v) => read(storedXml(v));
}
