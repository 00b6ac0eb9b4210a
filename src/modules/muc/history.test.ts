// History on entering a room (XEP-0045 §7.2.15): limits by stanzas, characters, seconds and date.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { parseHistoryRequest, selectHistory, type HistoryEntry } from "./history.js";

const entries: (HistoryEntry & { n: number })[] = [1, 2, 3, 4, 5].map((n) => ({ n, when: n * 1000, chars: 100 }));
const pick = (req: Parameters<typeof selectHistory>[1], now = 6000, limits = { defaultCount: 3, max: 4 }) =>
  selectHistory(entries, req, now, limits).map((e) => e.n);

describe("history selection (XEP-0045 §7.2.15)", () => {
  it("sends the default number of newest messages without a request, capped by the maximum", () => {
    assert.deepEqual(pick(undefined), [3, 4, 5]);
    assert.deepEqual(pick({}), [3, 4, 5]);
    assert.deepEqual(pick({ maxstanzas: 10 }), [2, 3, 4, 5]);
  });

  it("honours maxstanzas (0: none), maxchars, seconds and since, together", () => {
    assert.deepEqual(pick({ maxstanzas: 0 }), []);
    assert.deepEqual(pick({ maxstanzas: 2 }), [4, 5]);
    assert.deepEqual(pick({ maxchars: 250 }), [4, 5]);
    assert.deepEqual(pick({ maxchars: 0 }), []);
    assert.deepEqual(pick({ seconds: 3 }), [3, 4, 5]);
    assert.deepEqual(pick({ since: 4000 }), [4, 5]);
    assert.deepEqual(pick({ since: 2000, maxstanzas: 1 }), [5]);
    assert.deepEqual(pick({ seconds: 10, maxchars: 150 }), [5]);
  });

  it("parses the <history/> attributes, ignoring malformed ones", () => {
    const parse = (attrs: Record<string, string>) => parseHistoryRequest(x("history", attrs), (s) => (s === "2020-01-01T00:00:00Z" ? 1577836800000 : undefined));
    assert.deepEqual(parse({ maxstanzas: "0" }), { maxstanzas: 0 });
    assert.deepEqual(parse({ maxchars: "-1", seconds: "abc", since: "2020-01-01T00:00:00Z" }), { since: 1577836800000 });
    assert.equal(parseHistoryRequest(undefined, () => 0), undefined);
  });
});
