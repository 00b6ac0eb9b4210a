// Parses one XML element from a string with the stream parser's fragments mode (limits and
// restrictions as for client input); for tests and tools that build elements from text.
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
