// In-process test of the archive's place on the message path: a message is routed on at once
// (the recipient's copy carries its stanza-id before the rows are written), and the sender's
// session counts it as handled for XEP-0198 only once both archive rows are durable.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Core } from "../../core/core.js";
import type { Session } from "../../core/session.js";
import { FakeTransport, bindPlain } from "../../../test/helpers/fake-transport.js";
import { parseConfig } from "../../config/schema.js";
import { silentLogger } from "../../core/log.js";
import { createMemoryBackend } from "../../storage/memory.js";
import type { ArchiveStore, StorageBackend } from "../../storage/types.js";
import { jid } from "../../jid/jid.js";
import { allModules } from "../index.js";

/** The memory backend, with the archive's rows held back from durability until `release()`. */
function gatedBackend(): { backend: StorageBackend; release: () => void; held: () => number } {
  const inner = createMemoryBackend();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held = 0;
  const backend = Object.create(inner) as StorageBackend;
  backend.archive = <T>(name: string): ArchiveStore<T> => {
    const a = inner.archive<T>(name);
    if (name !== "archive") return a;
    return {
      ...a,
      appendSoon(owner, item) {
        const r = a.appendSoon(owner, item);
        held++;
        return { id: r.id, durable: gate.then(() => r.durable) };
      },
    };
  };
  return { backend, release, held: () => held };
}

async function login(core: Core, user: string, password: string): Promise<{ t: FakeTransport; s: Session }> {
  const t = new FakeTransport(true);
  const s = core.openSession(t);
  await bindPlain(s, t, user, password);
  s.receive("<enable xmlns='urn:xmpp:sm:3'/>");
  await t.read(/<enabled /);
  s.receive("<presence/>");
  return { t, s };
}

describe("archive on the message path", () => {
  it("delivers at once, and acknowledges (XEP-0198) only once both archive rows are durable", async () => {
    const { backend, release, held } = gatedBackend();
    const core = new Core({ config: parseConfig({ auth: { scramIterations: 4096 } }), log: silentLogger(), storage: backend });
    await core.loadModules(allModules);
    await core.accounts.create(jid("juliet", "localhost"), "juliet-secret");
    await core.accounts.create(jid("romeo", "localhost"), "romeo-secret");
    const j = await login(core, "juliet", "juliet-secret");
    const r = await login(core, "romeo", "romeo-secret");
    await new Promise((res) => setTimeout(res, 20));
    j.t.out = "";
    r.t.out = "";

    j.s.receive("<message to='romeo@localhost' type='chat' id='m1'><body>wherefore</body></message>");
    const delivered = await r.t.read(/<\/message>/);
    assert.match(delivered, /<body>wherefore<\/body>/);
    // XEP-0313 §3.5: the recipient's copy names its archive entry
    assert.match(delivered, /<stanza-id xmlns="urn:xmpp:sid:0" by="romeo@localhost" id="[A-Za-z0-9_-]{22}"\/>/);
    assert.equal(held(), 2, "the sender's and the recipient's rows");

    // Not durable yet: the message is not counted as handled, so the answer to <r/> (which
    // follows it in order) waits
    j.s.receive("<r xmlns='urn:xmpp:sm:3'/>");
    await new Promise((res) => setTimeout(res, 50));
    assert.doesNotMatch(j.t.out, /<a /);
    release();
    assert.match(await j.t.read(/<a [^>]*\/>/), /h="2"/); // the initial presence and the message

    const store = backend.archive("archive");
    assert.equal((await store.query("juliet@localhost")).items.length, 1);
    assert.equal((await store.query("romeo@localhost")).items.length, 1);
  });
});
