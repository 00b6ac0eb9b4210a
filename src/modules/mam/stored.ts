// What an archive row holds: the message as XML text and its direction (XEP-0313 §3: the stanza
// itself, SHOULD be stored whole), and the way back to an element when a query returns it.
import { storedXmlReader } from "../../xml/parse-element.js";
import type { Element } from "../../xml/element.js";

/** The value of one `archive` row. */
export interface ArchivedMessage {
  /** "in": received by the account, "out": sent by it. */
  dir: "in" | "out";
  /** The stanza serialized with its jabber:client namespace. */
  xml: string;
}

/** Serializes a message for the archive (`xml`: its serialization, when made already). */
export function toStored(stanza: Element, dir: "in" | "out", xml: string = stanza.toString()): ArchivedMessage {
  return { dir, xml };
}

/** Parses stored messages back (one parser for a whole page); undefined for an unreadable row. */
export function storedReader(): (v: ArchivedMessage) => Element | undefined {
  const read = storedXmlReader();
  return (v) => read(v.xml);
}
