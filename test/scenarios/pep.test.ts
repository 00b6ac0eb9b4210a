// Scenario tests over real sockets for personal eventing (XEP-0163): OMEMO device lists and
// bundles as Conversations publishes them (XEP-0384, legacy and urn:xmpp:omemo:2), avatars
// (XEP-0084) notified by +notify caps (XEP-0115) to contacts and not strangers, publish-options
// preconditions (XEP-0223), max_items, access models, owner-only operations, and account deletion.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";
import type { RosterService } from "../../src/modules/roster/types.js";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_OWNER = "http://jabber.org/protocol/pubsub#owner";
const NS_EVENT = "http://jabber.org/protocol/pubsub#event";
const NS_ERRORS = "http://jabber.org/protocol/pubsub#errors";
const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
const NS_CAPS = "http://jabber.org/protocol/caps";
const AXOLOTL = "eu.siacs.conversations.axolotl";

/** The defined condition of an error reply (@xmpp/client rejects with an XMPPError). */
const condition = (e: unknown) => (e as { condition?: string }).condition;
/** The application-specific condition element's name (XEP-0060 pubsub#errors). */
const appCondition = (e: unknown) => {
  const app = (e as { application?: XmlElement }).application;
  return app?.attrs.xmlns === NS_ERRORS ? app.name : undefined;
};
async function fails(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail("expected an error reply");
}

const publishOptions = (fields: Record<string, string>) =>
  xml(
    "publish-options",
    {},
    xml(
      "x",
      { xmlns: "jabber:x:data", type: "submit" },
      xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "http://jabber.org/protocol/pubsub#publish-options")),
      ...Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
    ),
  );
const publish = (c: TestClient, node: string, id: string | undefined, payload: XmlElement, options?: Record<string, string>) =>
  c.iq(xml("iq", { type: "set", id: `pub-${Math.random()}` }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node }, xml("item", id ? { id } : {}, payload)), options ? publishOptions(options) : undefined)));
const items = async (c: TestClient, to: string, node: string, attrs: Record<string, string> = {}, ids: string[] = []) => {
  const r = await c.iq(xml("iq", { type: "get", to }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node, ...attrs }, ...ids.map((id) => xml("item", { id }))))));
  return r.getChild("pubsub", NS_PUBSUB)!.getChild("items")!.getChildren("item");
};
const isEvent = (node: string) => (s: XmlElement) => s.is("message") && s.getChild("event", NS_EVENT)?.getChild("items")?.attrs.node === node;

/** XEP-0115 §5.1 for one identity and a feature list (computed here, apart from the server's code). */
function capsVer(features: string[]): string {
  const s = "client/phone//Test<" + [...features].sort().map((f) => f + "<").join("");
  return createHash("sha1").update(s).digest("base64");
}

describe("personal eventing (XEP-0163)", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const d = () => server.domain;
  let discoQueries = 0;

  /** Connects; with `notify`, advertises caps with those +notify features and answers disco#info like a client. */
  const connect = async (user: string, resource: string, notify?: string[]) => {
    const c = await connectClient(server, user, user + "pass", { resource });
    open.push(c);
    if (notify) {
      const features = [NS_DISCO_INFO, NS_CAPS, ...notify.map((n) => n + "+notify")];
      const ver = capsVer(features);
      c.xmpp.iqCallee.get(NS_DISCO_INFO, "query", (ctx: { element: XmlElement }) => {
        discoQueries++;
        assert.equal(ctx.element.attrs.node, `https://test.invalid#${ver}`);
        return xml("query", { xmlns: NS_DISCO_INFO, node: ctx.element.attrs.node }, xml("identity", { category: "client", type: "phone", name: "Test" }), ...features.map((f) => xml("feature", { var: f })));
      });
      await c.send(xml("presence", {}, xml("c", { xmlns: NS_CAPS, hash: "sha-1", node: "https://test.invalid", ver })));
    } else {
      await c.send(xml("presence"));
    }
    await c.waitFor((s) => s.is("presence") && s.attrs.from === c.jid && s.attrs.type === undefined);
    return c;
  };

  before(async () => {
    server = await startTestServer();
    for (const u of ["alice", "bob", "eve", "gone"]) await server.createAccount(u, u + "pass");
    const roster = server.core.service<RosterService>("roster")!;
    // alice and bob share presence; eve is a stranger to both
    await roster.setItem(jid("alice", d()), jid("bob", d()), { subscription: "both", groups: ["friends"] }, false);
    await roster.setItem(jid("bob", d()), jid("alice", d()), { subscription: "both", groups: [] }, false);
  });

  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("announces the PEP identity and features on the account (XEP-0163 §6.1)", async () => {
    const a = await connect("alice", "disco");
    const info = await a.iq(xml("iq", { type: "get", to: `alice@${d()}` }, xml("query", { xmlns: NS_DISCO_INFO })));
    const q = info.getChild("query")!;
    assert.ok(q.getChildren("identity").some((i) => i.attrs.category === "pubsub" && i.attrs.type === "pep"));
    const features = q.getChildren("feature").map((f) => f.attrs.var);
    for (const f of ["publish", "publish-options", "auto-create", "last-published", "access-presence", "access-open", "access-whitelist", "retract-items", "delete-nodes", "purge-nodes", "config-node", "retrieve-items", "persistent-items", "filtered-notifications", "item-ids", "multi-items"]) {
      assert.ok(features.includes(`${NS_PUBSUB}#${f}`), f);
    }
    await a.close();
  });

  it("OMEMO: Conversations' device list and bundle (legacy and omemo:2) with access_model=open, fetched by a contact and a stranger", async () => {
    const a = await connect("alice", "conversations");
    // the stanzas Conversations 2.x sends (legacy axolotl namespace)
    await publish(a, `${AXOLOTL}.devicelist`, "current", xml("list", { xmlns: AXOLOTL }, xml("device", { id: "1234567" })), { "pubsub#access_model": "open" });
    const bundle = xml(
      "bundle",
      { xmlns: AXOLOTL },
      xml("signedPreKeyPublic", { signedPreKeyId: "1" }, "BQv5"),
      xml("signedPreKeySignature", {}, "c2ln"),
      xml("identityKey", {}, "BWlk"),
      xml("prekeys", {}, xml("preKeyPublic", { preKeyId: "1" }, "BXAx"), xml("preKeyPublic", { preKeyId: "2" }, "BXAy")),
    );
    await publish(a, `${AXOLOTL}.bundles:1234567`, "current", bundle, { "pubsub#access_model": "open" });
    // and the same again: preconditions are met by the node they created
    await publish(a, `${AXOLOTL}.devicelist`, "current", xml("list", { xmlns: AXOLOTL }, xml("device", { id: "1234567" }), xml("device", { id: "42" })), { "pubsub#access_model": "open" });
    // OMEMO 2 (XEP-0384 §5.3): devices in one item, bundles one item per device, max_items max
    await publish(a, "urn:xmpp:omemo:2:devices", "current", xml("devices", { xmlns: "urn:xmpp:omemo:2" }, xml("device", { id: "1234567", label: "phone" })), { "pubsub#access_model": "open" });
    for (const id of ["1234567", "42"]) {
      await publish(a, "urn:xmpp:omemo:2:bundles", id, xml("bundle", { xmlns: "urn:xmpp:omemo:2" }, xml("spk", { id: "1" }, "AA==")), { "pubsub#access_model": "open", "pubsub#max_items": "max" });
    }

    const b = await connect("bob", "fetch");
    const e = await connect("eve", "fetch");
    for (const c of [b, e]) {
      const list = await items(c, `alice@${d()}`, `${AXOLOTL}.devicelist`);
      assert.equal(list.length, 1);
      assert.deepEqual(list[0]!.getChild("list", AXOLOTL)!.getChildren("device").map((x) => x.attrs.id), ["1234567", "42"]);
      const got = await items(c, `alice@${d()}`, `${AXOLOTL}.bundles:1234567`, { max_items: "1" });
      assert.equal(got[0]!.attrs.id, "current");
      assert.equal(got[0]!.getChild("bundle", AXOLOTL)!.getChild("prekeys")!.getChildren("preKeyPublic").length, 2);
      const devices = await items(c, `alice@${d()}`, "urn:xmpp:omemo:2:devices");
      assert.equal(devices[0]!.getChild("devices", "urn:xmpp:omemo:2")!.getChild("device")!.attrs.label, "phone");
      // XEP-0384 §5.3.2: a bundle fetched by item id
      const one = await items(c, `alice@${d()}`, "urn:xmpp:omemo:2:bundles", {}, ["42"]);
      assert.deepEqual(one.map((i) => i.attrs.id), ["42"]);
      assert.equal((await items(c, `alice@${d()}`, "urn:xmpp:omemo:2:bundles")).length, 2, "max_items=max keeps both bundles");
    }
    for (const c of [a, b, e]) await c.close();
  });

  it("avatar: the contact with +notify gets the notification, a stranger does not (presence access); new resources get the last item", async () => {
    const META = "urn:xmpp:avatar:metadata";
    const a = await connect("alice", "avatar");
    const a2 = await connect("alice", "watch", [META]);
    const b = await connect("bob", "notify", [META]);
    const e = await connect("eve", "notify", [META]);
    const png = Buffer.from("pretend this is a PNG");
    const sha1 = createHash("sha1").update(png).digest("hex");
    // XEP-0084 §4.1/§4.2: data first, then metadata
    await publish(a, "urn:xmpp:avatar:data", sha1, xml("data", { xmlns: "urn:xmpp:avatar:data" }, png.toString("base64")));
    await publish(a, META, sha1, xml("metadata", { xmlns: META }, xml("info", { id: sha1, type: "image/png", bytes: String(png.length) })));
    const ev = await b.waitFor(isEvent(META));
    assert.equal(ev.attrs.from, `alice@${d()}`);
    assert.equal(ev.attrs.type, "headline");
    // XEP-0163 §4.3.1: the owner's own resources with +notify are told too
    await a2.waitFor(isEvent(META));
    assert.equal(await a.receivedWithin(isEvent(META), 100), false, "the publishing resource did not ask (+notify)");
    assert.equal(ev.getChild("event", NS_EVENT)!.getChild("items")!.getChild("item")!.attrs.id, sha1);
    assert.ok(discoQueries >= 1, "the server asked the unknown caps");
    assert.equal(await e.receivedWithin(isEvent(META), 300), false, "a stranger gets nothing");
    // and cannot fetch it either (XEP-0060 §6.5.9.6)
    const err = await fails(items(e, `alice@${d()}`, META));
    assert.equal(condition(err), "not-authorized");
    assert.equal(appCondition(err), "presence-subscription-required");
    assert.equal(await b.receivedWithin(isEvent("urn:xmpp:avatar:data"), 100), false, "no +notify for data: no notification");
    // XEP-0163 §6.1.2: a resource that becomes available gets the last item (known caps: no query)
    const before = discoQueries;
    const b2 = await connect("bob", "second", [META]);
    const last = await b2.waitFor(isEvent(META));
    assert.equal(last.getChild("event", NS_EVENT)!.getChild("items")!.getChild("item")!.attrs.id, sha1);
    assert.ok(last.getChild("delay", "urn:xmpp:delay"));
    assert.equal(discoQueries, before, "verified caps are cached");
    // XEP-0398: the avatar is now the vCard photo, and alice's presence carries its hash (XEP-0153)
    const v = await b.iq(xml("iq", { type: "get", to: `alice@${d()}` }, xml("vCard", { xmlns: "vcard-temp" })));
    assert.equal(v.getChild("vCard")!.getChild("PHOTO")!.getChildText("BINVAL"), png.toString("base64"));
    const p = await b.waitFor((s) => s.is("presence") && s.attrs.from === a.jid && s.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === sha1);
    assert.ok(p);
    // retract with notify (XEP-0060 §7.2.2.1)
    await a.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("retract", { node: META, notify: "true" }, xml("item", { id: sha1 })))));
    const r = await b.waitFor((s) => isEvent(META)(s) && s.getChild("event", NS_EVENT)!.getChild("items")!.getChild("retract") !== undefined);
    assert.equal(r.getChild("event", NS_EVENT)!.getChild("items")!.getChild("retract")!.attrs.id, sha1);
    assert.equal((await items(a, `alice@${d()}`, META)).length, 0);
    for (const c of [a, a2, b, e, b2]) await c.close();
  });

  it("publish-options that conflict with an existing node fail with precondition-not-met (XEP-0223)", async () => {
    const a = await connect("alice", "po");
    await publish(a, "urn:example:po", "1", xml("thing", { xmlns: "urn:example" }));
    let err = await fails(publish(a, "urn:example:po", "2", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "open" }));
    assert.equal(condition(err), "conflict");
    assert.equal(appCondition(err), "precondition-not-met");
    err = await fails(publish(a, "urn:example:po", "2", xml("thing", { xmlns: "urn:example" }), { "pubsub#no_such_option": "1" }));
    assert.equal(appCondition(err), "precondition-not-met");
    // the owner reconfigures (XEP-0060 §8.2), then the same publish succeeds
    const form = await a.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: NS_OWNER }, xml("configure", { node: "urn:example:po" }))));
    const x = form.getChild("pubsub", NS_OWNER)!.getChild("configure")!.getChild("x", "jabber:x:data")!;
    assert.equal(x.getChildren("field").find((f) => f.attrs.var === "pubsub#access_model")!.getChildText("value"), "presence");
    await a.iq(
      xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_OWNER }, xml("configure", { node: "urn:example:po" }, xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "http://jabber.org/protocol/pubsub#node_config")), xml("field", { var: "pubsub#access_model" }, xml("value", {}, "open")))))),
    );
    await publish(a, "urn:example:po", "2", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "open" });
    // options apply on creation
    await publish(a, "urn:example:created", "1", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "whitelist" });
    const e = await connect("eve", "po");
    err = await fails(items(e, `alice@${d()}`, "urn:example:created"));
    assert.equal(condition(err), "not-allowed");
    assert.equal(appCondition(err), "closed-node");
    assert.equal((await items(e, `alice@${d()}`, "urn:example:po")).length, 1, "open now; max_items 1 kept one");
    await a.close();
    await e.close();
  });

  it("keeps max_items items, returns the last N and items by id", async () => {
    const a = await connect("alice", "max");
    for (let i = 1; i <= 5; i++) await publish(a, "urn:example:max", `i${i}`, xml("n", { xmlns: "urn:example" }, String(i)), { "pubsub#max_items": "3" });
    const all = await items(a, `alice@${d()}`, "urn:example:max");
    assert.deepEqual(all.map((i) => i.attrs.id), ["i3", "i4", "i5"]);
    assert.deepEqual((await items(a, `alice@${d()}`, "urn:example:max", { max_items: "2" })).map((i) => i.attrs.id), ["i4", "i5"]);
    assert.deepEqual((await items(a, `alice@${d()}`, "urn:example:max", {}, ["i3", "i1"])).map((i) => i.attrs.id), ["i3"]);
    // republishing an id replaces it and makes it the newest
    await publish(a, "urn:example:max", "i3", xml("n", { xmlns: "urn:example" }, "again"), { "pubsub#max_items": "3" });
    const after = await items(a, `alice@${d()}`, "urn:example:max");
    assert.deepEqual(after.map((i) => i.attrs.id), ["i4", "i5", "i3"]);
    assert.equal(after[2]!.getChildText("n"), "again");
    // an item without payload is refused (XEP-0060 §7.1.3.6)
    const err = await fails(a.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: "urn:example:max" }, xml("item", { id: "x" }))))));
    assert.equal(condition(err), "bad-request");
    // purge, then delete (XEP-0060 §8.5, §8.4)
    await a.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_OWNER }, xml("purge", { node: "urn:example:max" }))));
    assert.equal((await items(a, `alice@${d()}`, "urn:example:max")).length, 0);
    await a.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_OWNER }, xml("delete", { node: "urn:example:max" }))));
    assert.equal(condition(await fails(items(a, `alice@${d()}`, "urn:example:max"))), "item-not-found");
    await a.close();
  });

  it("refuses owner-only operations and publishing for others (forbidden)", async () => {
    const a = await connect("alice", "owner");
    await publish(a, "urn:example:own", "1", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "open" });
    const b = await connect("bob", "owner");
    const to = `alice@${d()}`;
    for (const op of [xml("delete", { node: "urn:example:own" }), xml("purge", { node: "urn:example:own" }), xml("affiliations", { node: "urn:example:own" })]) {
      assert.equal(condition(await fails(b.iq(xml("iq", { type: "set", to }, xml("pubsub", { xmlns: NS_OWNER }, op))))), "forbidden");
    }
    assert.equal(condition(await fails(b.iq(xml("iq", { type: "get", to }, xml("pubsub", { xmlns: NS_OWNER }, xml("configure", { node: "urn:example:own" })))))), "forbidden");
    assert.equal(condition(await fails(b.iq(xml("iq", { type: "set", to }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: "urn:example:own" }, xml("item", {}, xml("thing", { xmlns: "urn:example" })))))))), "forbidden");
    assert.equal(condition(await fails(b.iq(xml("iq", { type: "set", to }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("retract", { node: "urn:example:own" }, xml("item", { id: "1" }))))))), "forbidden");
    assert.equal((await items(b, to, "urn:example:own")).length, 1);
    await a.close();
    await b.close();
  });

  it("roster and whitelist access models; affiliations", async () => {
    const a = await connect("alice", "access");
    const b = await connect("bob", "access");
    const to = `alice@${d()}`;
    await publish(a, "urn:example:roster", "1", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "roster" });
    // bob is in no allowed group yet
    assert.equal(appCondition(await fails(items(b, to, "urn:example:roster"))), "not-in-roster-group");
    await a.iq(
      xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_OWNER }, xml("configure", { node: "urn:example:roster" }, xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "pubsub#roster_groups_allowed" }, xml("value", {}, "friends")))))),
    );
    assert.equal((await items(b, to, "urn:example:roster")).length, 1);
    await publish(a, "urn:example:wl", "1", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "whitelist" });
    assert.equal(condition(await fails(items(b, to, "urn:example:wl"))), "not-allowed");
    await a.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_OWNER }, xml("affiliations", { node: "urn:example:wl" }, xml("affiliation", { jid: `bob@${d()}`, affiliation: "member" })))));
    assert.equal((await items(b, to, "urn:example:wl")).length, 1);
    const affs = await a.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: NS_OWNER }, xml("affiliations", { node: "urn:example:wl" }))));
    assert.deepEqual(affs.getChild("pubsub", NS_OWNER)!.getChild("affiliations")!.getChildren("affiliation").map((x) => `${x.attrs.jid}=${x.attrs.affiliation}`), [`alice@${d()}=owner`, `bob@${d()}=member`]);
    await a.close();
    await b.close();
  });

  it("deleting an account removes its nodes, items, vCard and private data, and other nodes forget it", async () => {
    const g = await connect("gone", "x");
    await publish(g, `${AXOLOTL}.devicelist`, "current", xml("list", { xmlns: AXOLOTL }, xml("device", { id: "9" })), { "pubsub#access_model": "open" });
    await g.iq(xml("iq", { type: "set" }, xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Gone Person"))));
    await g.iq(xml("iq", { type: "set" }, xml("query", { xmlns: "jabber:iq:private" }, xml("storage", { xmlns: "storage:bookmarks" }, xml("conference", { jid: "room@muc.example", autojoin: "true" })))));
    const b = await connect("bob", "wl");
    await publish(b, "urn:example:bobwl", "1", xml("thing", { xmlns: "urn:example" }), { "pubsub#access_model": "whitelist" });
    await b.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_OWNER }, xml("affiliations", { node: "urn:example:bobwl" }, xml("affiliation", { jid: `gone@${d()}`, affiliation: "member" })))));
    const owner = `gone@${d()}`;
    for (const store of ["pep_nodes", "pep_items", "vcard", "private_xml"]) assert.ok((await server.core.storage.dumpOwner(owner, store)).length > 0, store);
    assert.ok((await server.core.storage.countMentions(owner)) > 0);
    await g.close();
    await server.core.accounts.delete(jid("gone", d()));
    for (const store of ["pep_nodes", "pep_items", "vcard", "private_xml"]) assert.equal((await server.core.storage.dumpOwner(owner, store)).length, 0, store);
    assert.equal(await server.core.storage.countMentions(owner), 0);
    // bob's node still works
    assert.equal((await items(b, `bob@${d()}`, "urn:example:bobwl")).length, 1);
    await b.close();
  });
});
