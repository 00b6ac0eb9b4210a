// Pure parts of the presence module: roster rows <-> subscription states, and <priority/> parsing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { applyState, subStateOf } from "./presence.module.js";
import { parsePriority } from "./broadcast.js";
import { NONE, fromName, inbound, outbound } from "./subscription.js";

test("an inbound request from a stranger makes a hidden row keeping the stanza", () => {
  const req = x("presence", { from: "a@b", to: "c@d", type: "subscribe" });
  const row = applyState(undefined, inbound("subscribe", NONE).next, false, req);
  assert.equal(row?.hidden, true);
  assert.equal(row?.pendingIn, true);
  assert.equal(row?.pendingStanza?.a.type, "subscribe");
  assert.equal(subStateOf(row).pendingIn, true);
});

test("denying a hidden request deletes the row; approving makes it visible with from", () => {
  const row = applyState(undefined, fromName("None + Pending In"), false, x("presence"));
  assert.equal(applyState(row, outbound("unsubscribed", subStateOf(row)).next, true), undefined);
  const approved = applyState(row, outbound("subscribed", subStateOf(row)).next, true);
  assert.equal(approved?.hidden, undefined);
  assert.equal(approved?.subscription, "from");
  assert.equal(approved?.pendingIn, undefined);
  assert.equal(approved?.pendingStanza, undefined);
});

test("a pre-approval for an unknown contact creates a visible item (RFC 6121 §3.4.2)", () => {
  const row = applyState(undefined, outbound("subscribed", NONE).next, true);
  assert.deepEqual(row, { subscription: "none", groups: [], approved: true });
});

test("a visible item back in None keeps its name and groups", () => {
  const row = applyState({ subscription: "to", name: "N", groups: ["G"] }, inbound("unsubscribed", fromName("To")).next, false);
  assert.deepEqual(row, { subscription: "none", name: "N", groups: ["G"] });
});

test("priority: default 0, -128..127, invalid values rejected (RFC 6121 §4.7.2.3)", () => {
  const p = (v?: string) => parsePriority(x("presence", null, v === undefined ? null : x("priority", null, v)));
  assert.equal(p(), 0);
  assert.equal(p("5"), 5);
  assert.equal(p(" -128 "), -128);
  assert.equal(p("127"), 127);
  assert.equal(p("128"), undefined);
  assert.equal(p("1.5"), undefined);
  assert.equal(p("high"), undefined);
});
