// Blocklist import: XEP-0191 lists and the whole-JID deny rules of XEP-0016 privacy lists.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseDocument } from "../../core/lifecycle/xep0227.js";
import { blockedFromImport, mergeBlocklist } from "./portable.js";

describe("blocklist import", () => {
  it("takes XEP-0191 items and the default privacy list's plain deny rules only", () => {
    const els = [
      parseDocument(`<blocklist xmlns='urn:xmpp:blocking'><item jid='a@x'/><item jid='not a jid@@'/></blocklist>`),
      parseDocument(
        `<query xmlns='jabber:iq:privacy'><default name='Blocked contacts'/>` +
          `<list name='Blocked contacts'><item value='b@x' type='jid' order='0' action='deny'/>` +
          `<item value='c@x' type='jid' order='1' action='deny'><message/></item>` +
          `<item value='friends' type='group' order='2' action='deny'/>` +
          `<item value='d@x' type='jid' order='3' action='allow'/></list>` +
          `<list name='other'><item value='e@x' type='jid' order='0' action='deny'/></list></query>`,
      ),
    ];
    const { jids, notes } = blockedFromImport(els);
    assert.deepEqual(jids.sort(), ["a@x", "b@x"]);
    assert.deepEqual(notes, ["1 invalid addresses skipped", "4 privacy list rules (XEP-0016) that are not plain blocks were not imported"]);
  });

  it("merges without duplicates and stops at the limit", () => {
    assert.deepEqual(mergeBlocklist(["a@x"], ["a@x", "b@x"], 10), { list: ["a@x", "b@x"], result: { imported: 1 } });
    const full = mergeBlocklist(["a@x"], ["b@x", "c@x"], 2);
    assert.deepEqual(full.list, ["a@x", "b@x"]);
    assert.equal(full.result.imported, 1);
  });
});
