// In-process tests of stream negotiation: a fake transport, memory storage, no sockets.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Core } from "./core.js";
import type { Session } from "./session.js";
import { FakeTransport, HEADER, bindPlain } from "../../test/helpers/fake-transport.js";
import { parseConfig } from "../config/schema.js";
import { silentLogger } from "./log.js";
import { createMemoryBackend } from "../storage/memory.js";
import { jid } from "../jid/jid.js";
import { allModules } from "../modules/index.js";

async function makeCore(over: Record<string, unknown> = {}): Promise<Core> {
  const core = new Core({ config: parseConfig({ auth: { scramIterations: 4096 }, ...over }), log: silentLogger(), storage: createMemoryBackend() });
  await core.loadModules(allModules);
  await core.accounts.create(jid("juliet", "localhost"), "romeo-secret");
  return core;
}

function open(core: Core, secure: boolean): { t: FakeTransport; s: Session } {
  const t = new FakeTransport(secure);
  return { t, s: core.openSession(t) };
}

describe("Session negotiation", () => {
  it("authenticates with PLAIN on a secure transport, restarts, binds and routes", async () => {
    const core = await makeCore();
    const { t, s } = open(core, true);
    s.receive(HEADER);
    const features = await t.read(/<\/stream:features>/);
    assert.match(features, /<stream:stream [^>]*from="localhost"/);
    assert.match(features, /<mechanism>PLAIN<\/mechanism>/);
    s.receive(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from("\0juliet\0romeo-secret").toString("base64")}</auth>`);
    await t.read(/<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"\/>/);
    s.receive(HEADER);
    assert.match(await t.read(/<\/stream:features>/), /<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"\/>/);
    s.receive("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>");
    assert.match(await t.read(/<\/iq>/), /<jid>juliet@localhost\/balcony<\/jid>/);
    s.receive("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    assert.match(await t.read(/<iq [^>]*id="p"[^>]*\/>/), /type="result"/);
    // RFC 6120 §8.2.3: an IQ get with two payloads is a bad request
    s.receive("<iq type='get' id='two' to='localhost'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>");
    assert.match(await t.read(/<\/iq>/), /<bad-request /);
    s.receive("</stream:stream>");
    await t.read(/<\/stream:stream>/);
    assert.equal(t.closed, true);
  });

  it("offers no PLAIN without TLS; refuses an unoffered mechanism and bad base64 (RFC 6120 §6.5)", async () => {
    const core = await makeCore({ c2s: { requireTls: false } });
    const { t, s } = open(core, false);
    s.receive(HEADER);
    const features = await t.read(/<\/stream:features>/);
    assert.doesNotMatch(features, /PLAIN/);
    assert.match(features, /SCRAM-SHA-256/);
    s.receive(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from("\0juliet\0x").toString("base64")}</auth>`);
    assert.match(await t.read(/<\/failure>/), /<invalid-mechanism\/>/);
    s.receive(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>not base64!</auth>`);
    assert.match(await t.read(/<\/failure>/), /<incorrect-encoding\/>/);
  });

  it("answers an unknown top-level element after binding with unsupported-stanza-type", async () => {
    const core = await makeCore();
    const { t, s } = open(core, true);
    await bindPlain(s, t, "juliet", "romeo-secret");
    s.receive("<foo xmlns='urn:example'/>");
    assert.match(await t.read(/<\/stream:stream>/), /<unsupported-stanza-type /);
  });
});
