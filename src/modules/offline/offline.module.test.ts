// Unit tests of the offline module's storage rule (XEP-0160 §3, XEP-0334), the stored form of a
// stanza and the XEP-0203 delay; end-to-end behaviour is in test/scenarios/offline.test.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { parseConfig } from "../../config/schema.js";
import { Core } from "../../core/core.js";
import { silentLogger } from "../../core/log.js";
import { createMemoryBackend } from "../../storage/memory.js";
import { allModules } from "../index.js";
import { NS_HINTS, NS_OMEMO, parseStoredStanza, shouldStore, withDelay } from "./offline.module.js";

const msg = (attrs: Record<string, string>, ...children: ReturnType<typeof x>[]) =>
  x("message", { xmlns: "jabber:client", from: "a@localhost/r", to: "b@localhost", ...attrs }, ...children);

describe("offline storage rule", () => {
  it("stores chat and normal messages with a body", () => {
    assert.equal(shouldStore(msg({ type: "chat" }, x("body", null, "hi"))), true);
    assert.equal(shouldStore(msg({}, x("body", null, "hi"))), true);
    assert.equal(shouldStore(msg({ type: "normal" }, x("body", null, ""))), true);
  });

  it("refuses other types (XEP-0160 §3)", () => {
    for (const type of ["groupchat", "headline", "error"]) assert.equal(shouldStore(msg({ type }, x("body", null, "hi"))), false, type);
  });

  it("honours the XEP-0334 hints", () => {
    assert.equal(shouldStore(msg({ type: "chat" }, x("body", null, "hi"), x("no-store", { xmlns: NS_HINTS }))), false);
    assert.equal(shouldStore(msg({ type: "chat" }, x("received", { xmlns: "urn:xmpp:chat-markers:0", id: "1" }), x("store", { xmlns: NS_HINTS }))), true);
  });

  it("stores OMEMO payloads but not bare chat states (XEP-0160 §3)", () => {
    assert.equal(shouldStore(msg({ type: "chat" }, x("encrypted", { xmlns: NS_OMEMO }, x("payload", null, "AAAA")))), true);
    assert.equal(shouldStore(msg({ type: "chat" }, x("composing", { xmlns: "http://jabber.org/protocol/chatstates" }))), false);
    // a body in another namespace is not a body
    assert.equal(shouldStore(msg({ type: "chat" }, x("body", { xmlns: "urn:example" }, "hi"))), false);
  });
});

describe("stored form", () => {
  it("round-trips a stanza through its serialization", () => {
    const m = msg({ type: "chat", id: "m1" }, x("body", null, "a < b & \"c\"\r\n"), x("x", { xmlns: "urn:example", "xml:lang": "en" }, x("y")));
    const back = parseStoredStanza(m.toString());
    assert.ok(back);
    assert.equal(back.toString(), m.toString());
    assert.equal(back.getChild("x", "urn:example")?.getChild("y")?.ns, "urn:example");
    assert.equal(back.getChildText("body", "jabber:client"), "a < b & \"c\"\r\n");
  });

  it("reports what does not parse", () => {
    assert.equal(parseStoredStanza("<message><body>"), undefined);
    assert.equal(parseStoredStanza("<message/><message/>"), undefined);
    assert.equal(parseStoredStanza("not xml"), undefined);
  });

  it("adds a XEP-0203 delay without changing the stored element", () => {
    const m = msg({ type: "chat" }, x("body", null, "hi"));
    const d = withDelay(m, "localhost", Date.UTC(2026, 0, 2, 3, 4, 5));
    const delay = d.getChild("delay", "urn:xmpp:delay");
    assert.equal(delay?.attrs.from, "localhost");
    assert.equal(delay?.attrs.stamp, "2026-01-02T03:04:05.000Z");
    assert.equal(m.getChild("delay"), undefined);
  });
});

describe("offline store declaration", () => {
  it("is account-owned, kept for offline.retentionDays, and msgoffline is announced", async () => {
    const core = new Core({ config: parseConfig({ offline: { retentionDays: 3 } }), log: silentLogger(), storage: createMemoryBackend() });
    await core.loadModules(allModules);
    const s = core.storeRegistry().find((r) => r.name === "offline");
    assert.equal(s?.declaration.owner, "account");
    assert.deepEqual(s?.declaration.retention, { kind: "duration", ms: 3 * 86_400_000 });
    assert.ok(core.discoInfo("host").features.includes("msgoffline"));
  });
});
