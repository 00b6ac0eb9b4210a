// Service domains (components) inside the core: routing to them and bouncing their errors (RFC 6120 §10.5).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Core } from "./core.js";
import { parseConfig } from "../config/schema.js";
import { silentLogger } from "./log.js";
import { createMemoryBackend } from "../storage/memory.js";
import { StanzaError } from "./errors.js";
import { defineModule } from "./module.js";
import { x } from "../xml/element.js";
import type { StanzaEvent } from "./events.js";
import { jid } from "../jid/jid.js";

async function coreWith(handler: (ev: StanzaEvent) => Promise<void> | void): Promise<Core> {
  const core = new Core({ config: parseConfig({ hosts: ["example.com"] }), log: silentLogger(), storage: createMemoryBackend() });
  await core.loadModules([defineModule({ name: "svc", specs: [], setup: (ctx) => ctx.component("svc.example.com", handler) })]);
  return core;
}

describe("components", () => {
  it("receives stanzas to its domain and to JIDs at it, not to the account host", async () => {
    const seen: string[] = [];
    const core = await coreWith((ev) => void seen.push(ev.to.toString()));
    await core.route(x("message", { from: "a@example.com/r", to: "room@svc.example.com/nick", type: "groupchat" }));
    await core.route(x("iq", { from: "a@example.com/r", to: "svc.example.com", type: "get", id: "1" }, x("query", { xmlns: "q" })));
    await core.route(x("presence", { from: "a@example.com/r", to: "example.com" }));
    assert.deepEqual(seen, ["room@svc.example.com/nick", "svc.example.com"]);
    assert.equal(core.isComponent("svc.example.com"), true);
    assert.equal(core.isLocalHost("svc.example.com"), false);
  });

  it("bounces a stanza the component refuses with the thrown condition", async () => {
    const core = await coreWith(() => {
      throw new StanzaError("not-allowed");
    });
    const bounced: string[] = [];
    core.deliverTo = (to, stanza) => {
      bounced.push(`${to.toString()} ${stanza.attrs.type} ${stanza.getChild("error")?.elements()[0]?.name}`);
      return true;
    };
    await core.route(x("message", { from: "a@example.com/r", to: "room@svc.example.com", type: "chat" }));
    assert.deepEqual(bounced, ["a@example.com/r error not-allowed"]);
  });

  it("passes replies addressed to the service (deliverTo) to its handler", async () => {
    const seen: string[] = [];
    const core = await coreWith((ev) => void seen.push(`${ev.from.toString()} ${ev.stanza.attrs.type}`));
    const ok = core.deliverTo(jid("room", "svc.example.com"), x("iq", { from: "a@example.com/r", to: "room@svc.example.com", type: "result", id: "7" }));
    assert.equal(ok, true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ["a@example.com/r result"]);
  });

  it("refuses a component on an account host and a domain registered twice", () => {
    const core = new Core({ config: parseConfig({ hosts: ["example.com"] }), log: silentLogger(), storage: createMemoryBackend() });
    assert.throws(() => core.registerComponent("example.com", () => {}), /account host/);
    core.registerComponent("a.example.com", () => {});
    assert.throws(() => core.registerComponent("a.example.com", () => {}), /twice/);
  });
});
