// What an archive row holds: the message as XML text and its direction (XEP-0313 §3: the stanza
// itself, SHOULD be stored whole), and the way back to an element when a query returns it.
import { StreamParser } from "../../xml/parser.js";
import type { Element } from "../../xml/element.js";

/** The value of one `archive` row. */
export interface ArchivedMessage {
  /** "in": received by the account, "out": sent by it. */
  dir: "in" | "out";
  /** The stanza serialized with its jabber:client namespace. */
  xml: string;
}

/** Serializes a message for the archive. */
export function toStored(stanza: Element, dir: "in" | "out"): ArchivedMessage {
  return { dir, xml: stanza.toString() };
}

/**
 * Parses stored messages back; one parser serves a whole page. Rows were well-formed stanzas
 * within the stream limits when written; the limits here are wide so a later, stricter
 * configuration does not make old rows unreadable. A row that fails to parse yields undefined.
 */
export function storedReader(): (v: ArchivedMessage) => Element | undefined {
  let out: Element | undefined;
  let failed = false;
  const parser = new StreamParser(
    {
      streamStart: () => {},
      streamEnd: () => {},
      stanza: (el) => {
        out ??= el;
      },
      error: () => {
        failed = true;
      },
    },
    { mode: "fragments", maxStanzaSize: 16 * 1024 * 1024, maxDepth: 1024 },
  );
  return (v) => {
    out = undefined;
    failed = false;
    parser.write(v.xml);
    if (failed) parser.reset(); // clears the error for the next row
    return failed ? undefined : out;
  };
}
