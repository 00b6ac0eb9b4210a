// In-process tests of stream negotiation: a fake transport, memory storage, no sockets.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Core } from "./core.js";
import type { Session } from "./session.js";
import { FakeTransport, HEADER, authPlain, bindPlain } from "../../test/helpers/fake-transport.js";
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

describe("Session: writes a stanza started (XEP-0198 §4)", () => {
  it("routes the next stanza before the previous one's writes are durable, and counts h in arrival order", async () => {
    const core = await makeCore();
    await core.accounts.create(jid("romeo", "localhost"), "juliet-secret");
    // A write each message starts and that completes only when the test says (as an archive row's
    // group commit would)
    const pending: (() => void)[] = [];
    core.events.on("stanza/outgoing", (ev) => {
      if (ev.stanza.name === "message") (ev.writes ??= []).push(new Promise<void>((r) => pending.push(r)));
      return false;
    });
    const j = open(core, true);
    const r = open(core, true);
    await bindPlain(j.s, j.t, "juliet", "romeo-secret");
    await bindPlain(r.s, r.t, "romeo", "juliet-secret");
    j.s.receive("<enable xmlns='urn:xmpp:sm:3'/>");
    await j.t.read(/<enabled [^>]*\/>/);
    r.s.receive("<presence/>");
    await r.t.read(/<\/presence>|<presence [^>]*\/>/);

    j.s.receive("<message to='romeo@localhost' type='chat' id='m1'><body>one</body></message>");
    j.s.receive("<message to='romeo@localhost' type='chat' id='m2'><body>two</body></message>");
    j.s.receive("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
    j.s.receive("<r xmlns='urn:xmpp:sm:3'/>");
    // both messages go on, and the ping is answered, while neither write is done
    await r.t.read(/id="m1"/);
    await r.t.read(/id="m2"/);
    await j.t.read(/<iq [^>]*id="p"/);
    assert.equal(pending.length, 2);
    // the answer to <r/> waits until everything before it is counted
    await new Promise((res) => setTimeout(res, 20));
    assert.doesNotMatch(j.t.out, /<a /);
    // the second write completing first counts nothing: h covers a prefix of what was sent
    pending[1]!();
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(j.s.sm?.handledIn, 0);
    pending[0]!();
    assert.match(await j.t.read(/<a [^>]*\/>/), /h="3"/);
    assert.equal(j.s.sm?.handledIn, 3);
    await j.s.settled();
  });

  it("answers a resumption only once the old stream's routed stanzas are counted (XEP-0198 §5)", async () => {
    const core = await makeCore();
    const pending: (() => void)[] = [];
    core.events.on("stanza/outgoing", (ev) => {
      if (ev.stanza.name === "message") (ev.writes ??= []).push(new Promise<void>((r) => pending.push(r)));
      return false;
    });
    const a = open(core, true);
    await bindPlain(a.s, a.t, "juliet", "romeo-secret");
    a.s.receive("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    const previd = /id="([^"]+)"/.exec(await a.t.read(/<enabled [^>]*\/>/))![1]!;
    a.s.receive("<message to='nobody@localhost' type='chat' id='m1'><body>one</body></message>");
    while (pending.length === 0) await new Promise((res) => setTimeout(res, 2));
    a.s.transportClosed();

    const b = open(core, true);
    await authPlain(b.s, b.t, "juliet", "romeo-secret");
    b.s.receive(`<resume xmlns='urn:xmpp:sm:3' previd='${previd}' h='0'/>`);
    // were it answered now, h="0" would make the client send m1 again
    await new Promise((res) => setTimeout(res, 20));
    assert.doesNotMatch(b.t.out, /<resumed /);
    pending[0]!();
    assert.match(await b.t.read(/<resumed [^>]*\/>/), /h="1"/);
  });
});

describe("Session output", () => {
  it("delivers every stanza of a turn that queues more output than one batch holds, in order", async () => {
    const core = await makeCore();
    await core.accounts.create(jid("romeo", "localhost"), "juliet-secret");
    const j = open(core, true);
    const r = open(core, true);
    await bindPlain(j.s, j.t, "juliet", "romeo-secret");
    await bindPlain(r.s, r.t, "romeo", "juliet-secret");
    r.s.receive("<presence/>");
    await r.t.read(/<\/presence>|<presence [^>]*\/>/);
    // 400 messages of ~1 KB in one read: several times OUTPUT_BATCH_CHARS for one recipient
    const pad = "x".repeat(1000);
    let input = "";
    for (let i = 0; i < 400; i++) input += `<message to='romeo@localhost' type='chat' id='n${i}'><body>${i} ${pad}</body></message>`;
    j.s.receive(input);
    const got = await r.t.read(/id="n399"[^>]*>/);
    const ids = [...got.matchAll(/<message [^>]*id="(n\d+)"/g)].map((m) => m[1]);
    assert.deepEqual(ids, Array.from({ length: 400 }, (_, i) => `n${i}`));
  });
});
