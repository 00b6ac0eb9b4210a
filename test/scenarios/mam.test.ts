// Scenario tests over real sockets for the personal archive (XEP-0313 with #extended, XEP-0441
// preferences, XEP-0359 stanza ids, XEP-0059 paging, XEP-0334 hints) and its data lifecycle.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";

const NS_MAM = "urn:xmpp:mam:2";
const NS_RSM = "http://jabber.org/protocol/rsm";
const NS_SID = "urn:xmpp:sid:0";
const NS_FORWARD = "urn:xmpp:forward:0";
const NS_DATA = "jabber:x:data";
const NS_HINTS = "urn:xmpp:hints";
const PAGE = 100; // archive.maxPageSize in this server

interface QueryResult {
  results: { id: string; stamp: string; message: XmlElement }[];
  fin: XmlElement;
  set: XmlElement;
}

interface QueryOptions {
  fields?: Record<string, string | string[]>;
  rsm?: { max?: number; after?: string; before?: string };
  flip?: boolean;
  to?: string;
}

let queryCounter = 0;

function queryElement(opts: QueryOptions, queryid: string): XmlElement {
  const fields = Object.entries(opts.fields ?? {}).map(([k, v]) =>
    xml("field", { var: k }, ...(Array.isArray(v) ? v : [v]).map((s) => xml("value", {}, s))),
  );
  const form =
    fields.length > 0
      ? xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS_MAM)), ...fields)
      : null;
  const r = opts.rsm;
  const set = r
    ? xml(
        "set",
        { xmlns: NS_RSM },
        r.max !== undefined ? xml("max", {}, String(r.max)) : null,
        r.after !== undefined ? xml("after", {}, r.after) : null,
        r.before !== undefined ? xml("before", {}, r.before) : null,
      )
    : null;
  return xml("query", { xmlns: NS_MAM, queryid }, form, set, opts.flip ? xml("flip-page") : null);
}

/** Runs an archive query; collects the result messages (they precede the IQ result, XEP-0313 §4). */
async function mam(c: TestClient, opts: QueryOptions = {}): Promise<QueryResult> {
  const queryid = "q" + ++queryCounter;
  const iq = await c.iq(xml("iq", { type: "set", ...(opts.to ? { to: opts.to } : {}) }, queryElement(opts, queryid)), 15_000);
  const mine = c.received.filter((s) => s.is("message") && s.getChild("result", NS_MAM)?.attrs.queryid === queryid);
  for (const m of mine) c.received.splice(c.received.indexOf(m), 1);
  const results = mine.map((m) => {
    assert.equal(m.attrs.from, bareOf(c.jid), "results come from the archive's address");
    assert.equal(m.attrs.to, c.jid);
    const r = m.getChild("result", NS_MAM)!;
    const fwd = r.getChild("forwarded", NS_FORWARD)!;
    return { id: r.attrs.id!, stamp: fwd.getChild("delay", "urn:xmpp:delay")!.attrs.stamp!, message: fwd.getChild("message", "jabber:client")! };
  });
  const fin = iq.getChild("fin", NS_MAM);
  assert.ok(fin, "the IQ result carries <fin/>");
  return { results, fin, set: fin.getChild("set", NS_RSM)! };
}

/** The error condition of a failed IQ. */
async function iqError(c: TestClient, el: XmlElement): Promise<string> {
  try {
    await c.iq(el);
  } catch (err) {
    return (err as { condition?: string }).condition ?? String(err);
  }
  return "no error";
}

const bareOf = (j: string) => j.split("/")[0]!;
const bodies = (r: QueryResult) => r.results.map((x) => x.message.getChildText("body"));
const ids = (r: QueryResult) => r.results.map((x) => x.id);
const stanzaIds = (m: XmlElement) => m.getChildren("stanza-id", NS_SID).map((s) => ({ by: s.attrs.by, id: s.attrs.id }));

async function setPrefs(c: TestClient, dflt: string, always: string[] = [], never: string[] = []): Promise<XmlElement> {
  const r = await c.iq(
    xml(
      "iq",
      { type: "set" },
      xml(
        "prefs",
        { xmlns: NS_MAM, default: dflt },
        xml("always", {}, ...always.map((j) => xml("jid", {}, j))),
        xml("never", {}, ...never.map((j) => xml("jid", {}, j))),
      ),
    ),
  );
  return r.getChild("prefs", NS_MAM)!;
}

/** Sends a chat message and waits until the recipient has it. */
async function say(from: TestClient, to: TestClient, body: string, ...extra: XmlElement[]): Promise<XmlElement> {
  await from.send(xml("message", { to: bareOf(to.jid), type: "chat" }, xml("body", {}, body), ...extra));
  return to.waitFor((s) => s.is("message") && s.getChildText("body") === body);
}

async function count(c: TestClient, withJid?: string): Promise<number> {
  const r = await mam(c, { rsm: { max: 0 }, ...(withJid ? { fields: { with: withJid } } : {}) });
  return Number(r.set.getChildText("count"));
}

describe("message archive scenarios (XEP-0313)", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const connect = async (user: string, resource = "r1", available = true) => {
    const c = await connectClient(server, user, user + "pass", { resource });
    open.push(c);
    if (available) {
      await c.send(xml("presence"));
      await c.waitFor((s) => s.is("presence") && s.attrs.from === c.jid);
    }
    return c;
  };

  before(async () => {
    server = await startTestServer({ archive: { maxPageSize: PAGE } });
    for (const u of ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "mia"]) await server.createAccount(u, u + "pass");
  });

  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("announces mam:2 and #extended on the account (XEP-0313 §7)", async () => {
    const a = await connect("alice", "disco", false);
    const r = await a.iq(xml("iq", { type: "get", to: "alice@localhost" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const features = r.getChild("query")!.getChildren("feature").map((f) => f.attrs.var);
    assert.ok(features.includes(NS_MAM));
    assert.ok(features.includes(NS_MAM + "#extended"));
    const form = await a.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS_MAM })));
    const vars = form.getChild("query", NS_MAM)!.getChild("x", NS_DATA)!.getChildren("field").map((f) => f.attrs.var);
    assert.deepEqual(vars, ["FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"]);
    await a.close();
  });

  it("archives both directions; the received copy carries the recipient's stanza-id, never a forged one", async () => {
    const alice = await connect("alice");
    const bob = await connect("bob");
    const got = await say(alice, bob, "hello bob", xml("stanza-id", { xmlns: NS_SID, by: "bob@localhost", id: "forged" }));
    const sids = stanzaIds(got);
    assert.equal(sids.length, 1, "exactly one stanza-id (XEP-0359 §4)");
    assert.equal(sids[0]!.by, "bob@localhost");
    assert.notEqual(sids[0]!.id, "forged");

    const inBob = await mam(bob);
    assert.deepEqual(bodies(inBob), ["hello bob"]);
    assert.equal(inBob.results[0]!.id, sids[0]!.id, "the stanza-id is the archive id (XEP-0313 §3.5)");
    assert.equal(inBob.results[0]!.message.attrs.from, alice.jid);
    assert.ok(!Number.isNaN(Date.parse(inBob.results[0]!.stamp)));
    assert.equal(stanzaIds(inBob.results[0]!.message).length, 0, "the forged id is not kept either");
    assert.equal(inBob.fin.attrs.complete, "true");

    await say(bob, alice, "hello alice");
    const inAlice = await mam(alice);
    assert.deepEqual(bodies(inAlice), ["hello bob", "hello alice"]);
    assert.equal(inAlice.results[0]!.message.attrs.to, "bob@localhost");
    assert.notEqual(inAlice.results[0]!.id, inBob.results[0]!.id, "each archive has its own ids");
    // The message bob got carried no id of alice's archive (XEP-0313 §3.5: MUST NOT)
    assert.ok(!stanzaIds(got).some((s) => s.by === "alice@localhost"));
    assert.deepEqual(bodies(await mam(bob)), ["hello bob", "hello alice"]);
  });

  it("archives a message that went to offline storage", async () => {
    const alice = await connect("alice", "off");
    await alice.send(xml("message", { to: "carol@localhost", type: "chat" }, xml("body", {}, "while you were out")));
    await alice.send(xml("message", { to: "carol@localhost", type: "normal" }, xml("body", {}, "a normal one")));
    // an IQ round trip: the messages before it are processed
    await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    const carol = await connect("carol", "r1", false);
    assert.deepEqual(bodies(await mam(carol)), ["while you were out", "a normal one"]);
  });

  it("leaves out other types, bodyless messages and no-store hints; keeps OMEMO", async () => {
    const alice = await connect("alice", "types");
    const bob = await connect("bob", "types");
    const before = await count(bob);
    const beforeAlice = await count(alice);
    for (const type of ["headline", "groupchat", "error"]) {
      await alice.send(xml("message", { to: bob.jid, type }, xml("body", {}, "not archived " + type)));
    }
    await alice.send(xml("message", { to: bob.jid, type: "chat" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
    const got = await say(alice, bob, "secret", xml("no-store", { xmlns: NS_HINTS }));
    assert.equal(stanzaIds(got).length, 0, "not archived: no stanza-id");
    await say(alice, bob, "off the record", xml("no-permanent-store", { xmlns: NS_HINTS }));
    await alice.send(xml("message", { to: bob.jid, type: "chat" }, xml("encrypted", { xmlns: "eu.siacs.conversations.axolotl" }, xml("payload", {}, "b64"))));
    const omemo = await bob.waitFor((s) => s.is("message") && s.getChild("encrypted", "eu.siacs.conversations.axolotl") !== undefined);
    assert.equal(stanzaIds(omemo).length, 1);
    assert.equal(await count(bob), before + 1, "only the OMEMO message was archived");
    assert.equal(await count(alice), beforeAlice + 1);
  });

  it("pages through 250 sent messages with every filter (XEP-0313 §4.1, §4.3, XEP-0059)", async () => {
    const erin = await connect("erin");
    const dave = await connect("dave");
    const frank = await connect("frank");
    const N = 250;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(erin.send(xml("message", { to: "dave@localhost", type: "chat" }, xml("body", {}, "m" + i))));
      if (i % 50 === 25) sends.push(frank.send(xml("message", { to: "dave@localhost", type: "chat" }, xml("body", {}, "f" + i))));
    }
    await Promise.all(sends);
    // two senders on two connections: wait for the last message of each
    await dave.waitFor((s) => s.is("message") && s.getChildText("body") === "m249", 20_000);
    await dave.waitFor((s) => s.is("message") && s.getChildText("body") === "f225", 20_000);
    dave.received.length = 0;

    // No <set/>: the server's page limit applies (§4.3.1)
    const first = await mam(dave);
    assert.equal(first.results.length, PAGE);
    assert.equal(first.fin.attrs.complete, "false");
    assert.equal(first.set.getChildText("count"), String(N + 5));
    assert.equal(first.set.getChild("first")!.attrs.index, "0");
    assert.equal(first.set.getChildText("first"), first.results[0]!.id);
    assert.equal(first.set.getChildText("last"), first.results[PAGE - 1]!.id);

    // Forward paging with <after/> until complete (§4.3.2)
    const all = [...first.results];
    let last = first.set.getChildText("last")!;
    let complete = false;
    let pages = 1;
    while (!complete) {
      const page = await mam(dave, { rsm: { after: last, max: 1000 } }); // a larger max is clamped
      assert.ok(page.results.length <= PAGE);
      all.push(...page.results);
      complete = page.fin.attrs.complete === "true";
      last = page.set.getChildText("last") ?? last;
      pages++;
    }
    assert.equal(pages, 3);
    assert.equal(all.length, N + 5);
    const erinBodies = all.map((r) => r.message.getChildText("body")).filter((b) => b!.startsWith("m"));
    assert.deepEqual(erinBodies, Array.from({ length: N }, (_, i) => "m" + i), "chronological order (§3.1)");
    assert.equal(new Set(all.map((r) => r.id)).size, N + 5);
    const allIds = all.map((r) => r.id);

    // The last page: an empty <before/> (§4.3.3), then backwards with <before>first</before>
    const tail = await mam(dave, { rsm: { max: 10, before: "" } });
    assert.deepEqual(ids(tail), allIds.slice(-10));
    assert.equal(tail.set.getChild("first")!.attrs.index, undefined, "no index counted from the end (slixmpp)");
    assert.equal(tail.set.getChildText("count"), String(N + 5));
    assert.equal(tail.fin.attrs.complete, "false");
    const prev = await mam(dave, { rsm: { max: 10, before: tail.set.getChildText("first")! } });
    assert.deepEqual(ids(prev), allIds.slice(-20, -10));
    const head = await mam(dave, { rsm: { max: 10, before: allIds[5]! } });
    assert.deepEqual(ids(head), allIds.slice(0, 5));
    assert.equal(head.fin.attrs.complete, "true", "backwards to the start of the archive");

    // max 0: only the count (XEP-0059 §2.7)
    const c0 = await mam(dave, { rsm: { max: 0 } });
    assert.equal(c0.results.length, 0);
    assert.equal(c0.set.getChildText("count"), String(N + 5));

    // with (§4.1.1): a bare JID matches every resource of the peer
    const fromFrank = await mam(dave, { fields: { with: "frank@localhost" } });
    assert.deepEqual(bodies(fromFrank), ["f25", "f75", "f125", "f175", "f225"]);
    assert.equal(fromFrank.set.getChildText("count"), "5");
    assert.equal(fromFrank.fin.attrs.complete, "true");
    const withErin = await mam(dave, { fields: { with: "erin@localhost" }, rsm: { max: 7, after: allIds[0]! } });
    assert.equal(withErin.set.getChildText("count"), String(N));
    assert.deepEqual(bodies(withErin), ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);

    // start / end (§4.1.2): inclusive bounds on the archiving time
    const stamps = all.map((r) => Date.parse(r.stamp));
    const mid = stamps[120]!;
    const since = await mam(dave, { fields: { start: new Date(mid).toISOString() }, rsm: { max: 0 } });
    assert.equal(Number(since.set.getChildText("count")), stamps.filter((s) => s >= mid).length);
    const until = await mam(dave, { fields: { end: new Date(mid).toISOString() } });
    assert.equal(Number(until.set.getChildText("count")), stamps.filter((s) => s <= mid).length);
    assert.ok(until.results.every((r) => Date.parse(r.stamp) <= mid));
    const window = await mam(dave, { fields: { start: new Date(stamps[0]!).toISOString(), end: new Date(stamps[0]!).toISOString() } });
    assert.ok(window.results.length >= 1 && window.results.every((r) => Date.parse(r.stamp) === stamps[0]));

    // after-id / before-id (§4.1.3): a range, paged forwards
    const between = await mam(dave, { fields: { "after-id": allIds[10]!, "before-id": allIds[20]! } });
    assert.deepEqual(ids(between), allIds.slice(11, 20));
    assert.equal(between.fin.attrs.complete, "true");
    const betweenPaged = await mam(dave, { fields: { "after-id": allIds[10]!, "before-id": allIds[20]! }, rsm: { max: 4 } });
    assert.deepEqual(ids(betweenPaged), allIds.slice(11, 15));
    assert.equal(betweenPaged.fin.attrs.complete, "false");
    const betweenNext = await mam(dave, { fields: { "after-id": allIds[10]!, "before-id": allIds[20]! }, rsm: { max: 4, after: allIds[18]! } });
    assert.deepEqual(ids(betweenNext), [allIds[19]]);
    assert.equal(betweenNext.fin.attrs.complete, "true");
    const afterOnly = await mam(dave, { fields: { "after-id": allIds[N + 5 - 3]! } });
    assert.deepEqual(ids(afterOnly), allIds.slice(-2));

    // ids (§4.1.3 single-item retrieval)
    const picked = await mam(dave, { fields: { ids: [allIds[100]!, allIds[7]!, allIds[42]!] } });
    assert.deepEqual(ids(picked), [allIds[7], allIds[42], allIds[100]]);
    assert.equal(picked.set.getChildText("count"), "3");

    // flip-page (§4.3.4): same page, newest first; <first>/<last> still name the page's bounds
    const straight = await mam(dave, { rsm: { max: 10, after: allIds[50]! } });
    const flipped = await mam(dave, { rsm: { max: 10, after: allIds[50]! }, flip: true });
    assert.deepEqual(ids(flipped), ids(straight).reverse());
    assert.equal(flipped.set.getChildText("first"), allIds[51]);
    assert.equal(flipped.set.getChildText("last"), allIds[60]);

    // Errors: unknown ids are item-not-found (§4.1.3, §4.3.2), a bad form bad-request
    const q = (opts: QueryOptions) => xml("iq", { type: "set" }, queryElement(opts, "err"));
    assert.equal(await iqError(dave, q({ rsm: { after: "no-such-id" } })), "item-not-found");
    assert.equal(await iqError(dave, q({ rsm: { before: "no-such-id" } })), "item-not-found");
    assert.equal(await iqError(dave, q({ fields: { "after-id": "no-such-id" } })), "item-not-found");
    assert.equal(await iqError(dave, q({ fields: { ids: [allIds[1]!, "no-such-id"] } })), "item-not-found");
    assert.equal(await iqError(dave, q({ fields: { start: "the day before yesterday" } })), "bad-request");
    assert.equal(await iqError(dave, q({ fields: { "{urn:example}free-text": "x" } })), "feature-not-implemented");

    // Metadata (§5): the first and last entries
    const meta = (await dave.iq(xml("iq", { type: "get" }, xml("metadata", { xmlns: NS_MAM })))).getChild("metadata", NS_MAM)!;
    assert.equal(meta.getChild("start")!.attrs.id, allIds[0]);
    assert.equal(meta.getChild("end")!.attrs.id, allIds[N + 4]);
    assert.equal(Date.parse(meta.getChild("end")!.attrs.timestamp!), stamps[N + 4]);
    const hank = await connect("hank", "meta", false);
    const emptyMeta = (await hank.iq(xml("iq", { type: "get" }, xml("metadata", { xmlns: NS_MAM })))).getChild("metadata", NS_MAM)!;
    assert.equal(emptyMeta.children.length, 0, "an empty archive has no bounds");
  });

  it("follows preferences: never stops archiving at once, always resumes it (XEP-0441)", async () => {
    const alice = await connect("alice", "prefs");
    const gina = await connect("gina");
    const initial = (await gina.iq(xml("iq", { type: "get" }, xml("prefs", { xmlns: NS_MAM })))).getChild("prefs", NS_MAM)!;
    assert.equal(initial.attrs.default, "always", "the configured default");
    assert.ok(initial.getChild("always") && initial.getChild("never"));

    await say(alice, gina, "kept 1");
    const applied = await setPrefs(gina, "never");
    assert.equal(applied.attrs.default, "never");
    const unkept = await say(alice, gina, "not kept");
    assert.equal(stanzaIds(unkept).length, 0);
    assert.equal((await gina.iq(xml("iq", { type: "get" }, xml("prefs", { xmlns: NS_MAM })))).getChild("prefs", NS_MAM)!.attrs.default, "never");
    await gina.send(xml("message", { to: "alice@localhost", type: "chat" }, xml("body", {}, "not kept either")));
    await alice.waitFor((s) => s.is("message") && s.getChildText("body") === "not kept either");

    await setPrefs(gina, "never", ["alice@localhost"]);
    await say(alice, gina, "kept 2: alice is on the always list");
    await setPrefs(gina, "always", [], ["alice@localhost/prefs"]);
    await say(alice, gina, "not kept: this resource is on the never list");
    await setPrefs(gina, "always");
    await say(alice, gina, "kept 3");
    assert.deepEqual(bodies(await mam(gina)), ["kept 1", "kept 2: alice is on the always list", "kept 3"]);
    // alice's own archive followed alice's preferences (the default), not gina's
    const aliceSide = bodies(await mam(alice, { fields: { with: "gina@localhost" } }));
    assert.ok(aliceSide.includes("not kept") && aliceSide.includes("not kept either"));

    // roster: only contacts in the roster
    await setPrefs(gina, "roster");
    await say(alice, gina, "stranger");
    await gina.iq(xml("iq", { type: "set" }, xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid: "alice@localhost" }))));
    await say(alice, gina, "contact");
    assert.deepEqual(bodies(await mam(gina, { rsm: { max: 1, before: "" } })), ["contact"]);
    assert.equal(await count(gina), 4);
    // bad preferences are refused
    assert.equal(await iqError(gina, xml("iq", { type: "set" }, xml("prefs", { xmlns: NS_MAM, default: "sometimes" }))), "bad-request");
  });

  it("refuses access to another account's archive and preferences (XEP-0313 §8.1)", async () => {
    const alice = await connect("alice", "snoop", false);
    assert.equal(await iqError(alice, xml("iq", { type: "set", to: "bob@localhost" }, queryElement({}, "snoop"))), "forbidden");
    assert.equal(await iqError(alice, xml("iq", { type: "get", to: "bob@localhost" }, xml("prefs", { xmlns: NS_MAM }))), "forbidden");
    assert.equal(await iqError(alice, xml("iq", { type: "set", to: "bob@localhost" }, xml("prefs", { xmlns: NS_MAM, default: "never" }))), "forbidden");
    assert.equal(await iqError(alice, xml("iq", { type: "get", to: "bob@localhost" }, xml("metadata", { xmlns: NS_MAM }))), "forbidden");
    assert.ok(!alice.received.some((s) => s.is("message") && s.getChild("result", NS_MAM)), "no result leaked");
    // addressing one's own bare JID explicitly is the same as no 'to'
    const own = await mam(alice, { to: "alice@localhost", rsm: { max: 1 } });
    assert.equal(own.results.length, 1);
  });

  it("deleting an account deletes its archive and its conversations in the peer's archive", async () => {
    const ivan = await connect("ivan");
    const judy = await connect("judy");
    await say(ivan, judy, "to judy");
    await say(judy, ivan, "to ivan");
    await setPrefs(judy, "always");
    assert.equal(await count(ivan), 2);
    await ivan.close();
    assert.ok((await server.core.storage.dumpOwner("ivan@localhost", "archive")).length > 0);
    await server.core.accounts.delete(jid("ivan", "localhost"));
    assert.equal((await server.core.storage.dumpOwner("ivan@localhost", "archive")).length, 0);
    assert.equal((await server.core.storage.dumpOwner("ivan@localhost", "archive_prefs")).length, 0);
    // archive.deleteConversationsWithAccount (default): ivan's messages leave judy's archive too
    assert.equal(await count(judy, "ivan@localhost"), 0);
    assert.equal(await server.core.storage.countMentions("ivan@localhost"), 0);

    // With a peer that archives nothing, nothing anywhere mentions the deleted account
    const hank = await connect("hank");
    const mia = await connect("mia");
    await setPrefs(hank, "never");
    await say(mia, hank, "to hank");
    await say(hank, mia, "to mia");
    assert.equal(await count(mia), 2);
    assert.ok((await server.core.storage.countMentions("mia@localhost")) > 0);
    await mia.close();
    await server.core.accounts.delete(jid("mia", "localhost"));
    assert.equal(await server.core.storage.countMentions("mia@localhost"), 0);
    assert.equal(await count(hank), 0);
  });

  it("keeps the peer's copy when archive.deleteConversationsWithAccount is off", async () => {
    const shared = server;
    server = await startTestServer({ archive: { maxPageSize: PAGE, deleteConversationsWithAccount: false } });
    try {
      for (const u of ["ivan", "judy"]) await server.createAccount(u, u + "pass");
      const ivan = await connect("ivan");
      const judy = await connect("judy");
      await say(ivan, judy, "to judy");
      await say(judy, ivan, "to ivan");
      await ivan.close();
      await server.core.accounts.delete(jid("ivan", "localhost"));
      assert.equal((await server.core.storage.dumpOwner("ivan@localhost", "archive")).length, 0);
      assert.equal(await count(judy, "ivan@localhost"), 2, "judy's history stays hers");
      await judy.close();
    } finally {
      await server.stop();
      server = shared;
    }
  });

  it("keeps the archive across a restart", async () => {
    const s2 = await startTestServer({ archive: { maxPageSize: PAGE } });
    try {
      await s2.createAccount("kim", "kimpass");
      await s2.createAccount("lee", "leepass");
      const kim = await connectClient(s2, "kim", "kimpass");
      const lee = await connectClient(s2, "lee", "leepass");
      await lee.send(xml("presence"));
      await lee.waitFor((s) => s.is("presence"));
      await say(kim, lee, "remember me");
      await kim.close();
      await lee.close();
      await s2.stop({ keepData: true });
      const s3 = await startTestServer({ dataDir: s2.dataDir, archive: { maxPageSize: PAGE } });
      try {
        const lee2 = await connectClient(s3, "lee", "leepass");
        assert.deepEqual(bodies(await mam(lee2)), ["remember me"]);
        await lee2.close();
      } finally {
        await s3.stop();
      }
    } catch (err) {
      await s2.stop().catch(() => {});
      throw err;
    }
  });
});
