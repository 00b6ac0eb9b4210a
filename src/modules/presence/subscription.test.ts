// Every row of RFC 6121 Appendix A.2 (outbound) and A.3 (inbound), plus pre-approval (RFC 6121 §3.4).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromName, inbound, outbound, stateName, type StateName, type SubscriptionType } from "./subscription.js";

type Row = [StateName, boolean, StateName | "no state change"];

const STATES: StateName[] = [
  "None",
  "None + Pending Out",
  "None + Pending In",
  "None + Pending Out/In",
  "To",
  "To + Pending In",
  "From",
  "From + Pending Out",
  "Both",
];

// RFC 6121 Appendix A.2: EXISTING STATE | ROUTE? | NEW STATE
const OUTBOUND: Record<SubscriptionType, Row[]> = {
  // A.2.1
  subscribe: [
    ["None", true, "None + Pending Out"],
    ["None + Pending Out", true, "no state change"],
    ["None + Pending In", true, "None + Pending Out/In"],
    ["None + Pending Out/In", true, "no state change"],
    ["To", true, "no state change"],
    ["To + Pending In", true, "no state change"],
    ["From", true, "From + Pending Out"],
    ["From + Pending Out", true, "no state change"],
    ["Both", true, "no state change"],
  ],
  // A.2.2
  unsubscribe: [
    ["None", true, "no state change"],
    ["None + Pending Out", true, "None"],
    ["None + Pending In", true, "no state change"],
    ["None + Pending Out/In", true, "None + Pending In"],
    ["To", true, "None"],
    ["To + Pending In", true, "None + Pending In"],
    ["From", true, "no state change"],
    ["From + Pending Out", true, "From"],
    ["Both", true, "From"],
  ],
  // A.2.3 (the "no state change" rows for None, None + Pending Out and To set the pre-approval flag, tested below)
  subscribed: [
    ["None", false, "no state change"],
    ["None + Pending Out", false, "no state change"],
    ["None + Pending In", true, "From"],
    ["None + Pending Out/In", true, "From + Pending Out"],
    ["To", false, "no state change"],
    ["To + Pending In", true, "Both"],
    ["From", false, "no state change"],
    ["From + Pending Out", false, "no state change"],
    ["Both", false, "no state change"],
  ],
  // A.2.4
  unsubscribed: [
    ["None", false, "no state change"],
    ["None + Pending Out", false, "no state change"],
    ["None + Pending In", true, "None"],
    ["None + Pending Out/In", true, "None + Pending Out"],
    ["To", false, "no state change"],
    ["To + Pending In", true, "To"],
    ["From", true, "None"],
    ["From + Pending Out", true, "None + Pending Out"],
    ["Both", true, "To"],
  ],
};

// RFC 6121 Appendix A.3: EXISTING STATE | DELIVER? | NEW STATE
const INBOUND: Record<SubscriptionType, Row[]> = {
  // A.3.1 ("no *": the server auto-replies subscribed, checked below)
  subscribe: [
    ["None", true, "None + Pending In"],
    ["None + Pending Out", true, "None + Pending Out/In"],
    ["None + Pending In", false, "no state change"],
    ["None + Pending Out/In", false, "no state change"],
    ["To", true, "To + Pending In"],
    ["To + Pending In", false, "no state change"],
    ["From", false, "no state change"],
    ["From + Pending Out", false, "no state change"],
    ["Both", false, "no state change"],
  ],
  // A.3.2
  unsubscribe: [
    ["None", false, "no state change"],
    ["None + Pending Out", false, "no state change"],
    ["None + Pending In", true, "None"],
    ["None + Pending Out/In", true, "None + Pending Out"],
    ["To", false, "no state change"],
    ["To + Pending In", true, "To"],
    ["From", true, "None"],
    ["From + Pending Out", true, "None + Pending Out"],
    ["Both", true, "To"],
  ],
  // A.3.3
  subscribed: [
    ["None", false, "no state change"],
    ["None + Pending Out", true, "To"],
    ["None + Pending In", false, "no state change"],
    ["None + Pending Out/In", true, "To + Pending In"],
    ["To", false, "no state change"],
    ["To + Pending In", false, "no state change"],
    ["From", false, "no state change"],
    ["From + Pending Out", true, "Both"],
    ["Both", false, "no state change"],
  ],
  // A.3.4
  unsubscribed: [
    ["None", false, "no state change"],
    ["None + Pending Out", true, "None"],
    ["None + Pending In", false, "no state change"],
    ["None + Pending Out/In", true, "None + Pending In"],
    ["To", true, "None"],
    ["To + Pending In", true, "None + Pending In"],
    ["From", false, "no state change"],
    ["From + Pending Out", true, "From"],
    ["Both", true, "From"],
  ],
};

test("state names round-trip", () => {
  for (const n of STATES) assert.equal(stateName(fromName(n)), n);
});

for (const [type, rows] of Object.entries(OUTBOUND) as [SubscriptionType, Row[]][]) {
  test(`A.2 outbound ${type}: every row`, () => {
    assert.equal(rows.length, 9);
    for (const [from, route, to] of rows) {
      const r = outbound(type, fromName(from));
      assert.equal(r.route, route, `${type} in ${from}: route`);
      assert.equal(stateName(r.next), to === "no state change" ? from : to, `${type} in ${from}: new state`);
    }
  });
}

for (const [type, rows] of Object.entries(INBOUND) as [SubscriptionType, Row[]][]) {
  test(`A.3 inbound ${type}: every row`, () => {
    assert.equal(rows.length, 9);
    for (const [from, deliver, to] of rows) {
      const r = inbound(type, fromName(from));
      assert.equal(r.deliver, deliver, `${type} in ${from}: deliver`);
      assert.equal(stateName(r.next), to === "no state change" ? from : to, `${type} in ${from}: new state`);
    }
  });
}

test("A.3.1: subscribe from an already subscribed contact is answered subscribed (RFC 6121 §3.1.3)", () => {
  for (const n of STATES) {
    const r = inbound("subscribe", fromName(n));
    const subscribed = n === "From" || n === "From + Pending Out" || n === "Both";
    assert.equal(r.autoReply, subscribed ? "subscribed" : undefined, n);
  }
});

test("§3.4.2: outbound subscribed in None, None + Pending Out, To records a pre-approval", () => {
  for (const n of ["None", "None + Pending Out", "To"] as StateName[]) {
    const r = outbound("subscribed", fromName(n));
    assert.equal(r.route, false);
    assert.equal(r.next.approved, true, n);
    assert.equal(stateName(r.next), n);
  }
  // not in From/Both: nothing to pre-approve
  for (const n of ["From", "From + Pending Out", "Both"] as StateName[]) assert.equal(outbound("subscribed", fromName(n)).next.approved, false);
});

test("§3.4: a pre-approved subscribe is auto-approved, not delivered, and clears the flag", () => {
  const cases: [StateName, StateName][] = [
    ["None", "From"],
    ["None + Pending Out", "From + Pending Out"],
    ["To", "Both"],
  ];
  for (const [n, next] of cases) {
    const r = inbound("subscribe", fromName(n, true));
    assert.equal(r.deliver, false);
    assert.equal(r.autoReply, "subscribed");
    assert.equal(r.sendPresence, "available");
    assert.equal(stateName(r.next), next);
    assert.equal(r.next.approved, false);
  }
});

test("§3.2.2 item 2: outbound unsubscribed cancels a pre-approval without routing", () => {
  for (const n of ["None", "None + Pending Out", "To"] as StateName[]) {
    const r = outbound("unsubscribed", fromName(n, true));
    assert.equal(r.route, false);
    assert.equal(r.next.approved, false);
    assert.equal(stateName(r.next), n);
  }
});

test("approving a pending request sends presence; cancelling sends unavailable first", () => {
  assert.equal(outbound("subscribed", fromName("None + Pending In")).sendPresence, "available");
  assert.equal(outbound("unsubscribed", fromName("Both")).sendPresence, "unavailable");
  assert.equal(outbound("unsubscribed", fromName("None + Pending In")).sendPresence, undefined);
  assert.equal(inbound("unsubscribe", fromName("From")).sendPresence, "unavailable");
  assert.equal(inbound("unsubscribe", fromName("None + Pending In")).sendPresence, undefined);
});
