// Parses one XML element from a string with the stream parser's fragments mode (limits and
// restrictions as for client input): one element from text, or many stored rows with one parser.
import { StreamParser } from "./parser.js";
import type { Element } from "./element.js";

/** Parses `xml` into an element; throws when it is not well-formed. */
export function parseXml(xml: string): Element {
  let out: Element | undefined;
  let failure: Error | undefined;
  const parser = new StreamParser(
    { streamStart: () => {}, streamEnd: () => {}, stanza: (el) => void (out ??= el), error: (e) => void (failure = e) },
    { mode: "fragments", maxStanzaSize: 1 << 20, maxDepth: 64 },
  );
  parser.write(xml);
  if (failure || !out) throw failure ?? new Error("no element");
  return out;
}

/**
 * A reader of stored XML (archived messages, room history): one parser serves many rows. Rows
 * were well-formed stanzas within the stream limits when written; the limits here are wide so a
 * later, stricter configuration does not make old rows unreadable. A row that fails to parse
 * yields undefined.
 */
export function storedXmlReader(): (xml: string) => Element | undefined {
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
  return (xml) => {
    out = undefined;
    failed = false;
    parser.write(xml);
    if (failed) parser.reset(); // clears the error for the next row
    return failed ? undefined : out;
  };
}
