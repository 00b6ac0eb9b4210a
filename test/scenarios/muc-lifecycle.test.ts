// Scenario tests over real sockets for the data lifecycle and limits of multi-user chat: rooms
// surviving a restart (XEP-0045 §4.2 persistent rooms), account deletion removing affiliations,
// nicks and archived messages, and the per-account, per-room and per-occupant limits.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";
import {
  MUC,
  NS_DATA,
  NS_SID,
  admin,
  adminList,
  codes,
  createRoom,
  discoInfo,
  errorCondition,
  groupchat,
  join,
  roomMam,
  waitBody,
  waitSubject,
} from "../helpers/muc.js";

const servers: TestServer[] = [];
const clients: TestClient[] = [];

async function connect(server: TestServer, user: string): Promise<TestClient> {
  const c = await connectClient(server, user, user + "pass");
  clients.push(c);
  await c.send(xml("presence"));
  await c.waitFor((s) => s.is("presence") && s.attrs.from === c.jid);
  return c;
}

after(async () => {
  for (const c of clients) await c.close();
  for (const s of servers) await s.stop();
});

describe("multi-user chat lifecycle", () => {
  it("keeps persistent rooms, their settings, affiliations, nicks, subject and history across a restart", async () => {
    const first = await startTestServer();
    for (const u of ["alice", "bob", "carol"]) await first.createAccount(u, u + "pass");
    const room = `keep@${MUC}`;
    const temp = `temp@${MUC}`;
    let alice = await connect(first, "alice");
    let bob = await connect(first, "bob");
    await createRoom(alice, room, "Alice", {
      "muc#roomconfig_persistentroom": "1",
      "muc#roomconfig_membersonly": "1",
      "muc#roomconfig_roomname": "Kept",
    });
    await createRoom(alice, temp, "Alice");
    await admin(alice, room, { jid: "bob@localhost", affiliation: "member" });
    await bob.iq(
      xml("iq", { type: "set", to: room }, xml("query", { xmlns: "jabber:iq:register" }, xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "muc#register_roomnick" }, xml("value", {}, "Bobby"))))),
    );
    await join(bob, room, "Bobby");
    await alice.send(xml("message", { to: room, type: "groupchat" }, xml("subject", {}, "Before the restart")));
    await groupchat(bob, room, "remember me");
    const live = await waitBody(alice, "remember me");
    const liveId = live.getChild("stanza-id", NS_SID)!.attrs.id;
    await alice.close();
    await bob.close();
    await first.stop({ keepData: true });

    const second = await startTestServer({ dataDir: first.dataDir });
    servers.push(second);
    alice = await connect(second, "alice");
    bob = await connect(second, "bob");
    const carol = await connect(second, "carol");
    const info = await discoInfo(bob, room);
    assert.ok(info.features.includes("muc_persistent") && info.features.includes("muc_membersonly"));
    assert.equal(info.identities[0]?.attrs.name, "Kept");
    // the temporary room did not survive
    const gone = await join(carol, temp, "Carol");
    assert.deepEqual(codes(gone), [110, 201], "a new room of the same name");
    // affiliations and the reserved nick did
    assert.equal(errorCondition(await join(carol, room, "Carol")), "registration-required");
    assert.deepEqual((await adminList(alice, room, { affiliation: "member" })).map((m) => [m.jid, m.nick]), [["bob@localhost", "Bobby"]]);
    assert.equal(errorCondition(await join(alice, room, "Bobby")), "conflict");
    await join(bob, room, "Bobby");
    const subject = await waitSubject(bob, room);
    assert.equal(subject.getChildText("subject"), "Before the restart");
    const hist = bob.received.find((s) => s.is("message") && s.getChildText("body") === "remember me");
    assert.ok(hist, "history from the archive after the restart");
    assert.equal(hist.getChild("stanza-id", NS_SID)?.attrs.id, liveId);
    const archived = await roomMam(bob, room);
    assert.deepEqual(archived.results.map((r) => r.id), [liveId], "the broadcast's stanza-id is the archive id");
  });

  it("deleting an account removes its affiliations, nicks and archived room messages in every room", async () => {
    const server = await startTestServer();
    servers.push(server);
    for (const u of ["alice", "bob", "carol"]) await server.createAccount(u, u + "pass");
    const alice = await connect(server, "alice");
    const bob = await connect(server, "bob");
    const carol = await connect(server, "carol");
    const r1 = `one@${MUC}`;
    const r2 = `two@${MUC}`;
    await createRoom(alice, r1, "Alice", { "muc#roomconfig_persistentroom": "1" });
    await createRoom(carol, r2, "Carol", { "muc#roomconfig_persistentroom": "1" });
    await admin(alice, r1, { jid: "bob@localhost", affiliation: "admin" });
    await bob.iq(
      xml("iq", { type: "set", to: r2 }, xml("query", { xmlns: "jabber:iq:register" }, xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "muc#register_roomnick" }, xml("value", {}, "B"))))),
    );
    await join(bob, r1, "Bob");
    await join(bob, r2, "B");
    await groupchat(bob, r1, "bob in one");
    await waitBody(alice, "bob in one");
    await groupchat(bob, r2, "bob in two");
    await waitBody(carol, "bob in two");
    await groupchat(alice, r1, "alice stays");
    await waitBody(alice, "alice stays");
    assert.equal((await roomMam(alice, r1)).results.length, 2);
    await bob.close();

    await server.core.accounts.delete(jid("bob", "localhost"));
    for (const r of [r1, r2]) {
      const rows = await server.core.storage.dumpOwner(r, "muc_affiliations");
      assert.ok(!JSON.stringify(rows).includes("bob@localhost"), `no affiliation of bob in ${r}`);
    }
    assert.deepEqual((await roomMam(alice, r1)).results.map((m) => m.message.getChildText("body")), ["alice stays"]);
    assert.equal((await roomMam(carol, r2)).results.length, 0);
    assert.equal(await server.core.storage.countMentions("bob@localhost"), 0, "nothing anywhere mentions bob");
    // the nick is free again, and history on join no longer has bob's messages
    const dave = await connect(server, "alice");
    await join(dave, r2, "B");
    await waitSubject(dave, r2);
    assert.equal(dave.received.filter((s) => s.is("message") && s.getChildText("body") === "bob in two").length, 0);
  });

  it("limits rooms per account, occupants per room and messages per minute", async () => {
    const server = await startTestServer({ muc: { limits: { roomsPerAccount: 1, occupantsPerRoom: 2, messagesPerMinute: 3 } } });
    servers.push(server);
    for (const u of ["alice", "bob", "carol"]) await server.createAccount(u, u + "pass");
    const alice = await connect(server, "alice");
    const bob = await connect(server, "bob");
    const carol = await connect(server, "carol");
    const room = `small@${MUC}`;
    await createRoom(alice, room, "Alice");
    const second = await join(alice, `another@${MUC}`, "Alice");
    assert.equal(errorCondition(second), "resource-constraint");
    await join(bob, room, "Bob");
    const full = await join(carol, room, "Carol");
    assert.equal(errorCondition(full), "service-unavailable"); // XEP-0045 §7.2.9
    for (let i = 1; i <= 3; i++) await groupchat(bob, room, `r${i}`);
    await waitBody(alice, "r3");
    await groupchat(bob, room, "r4");
    const err = await bob.waitFor((s) => s.is("message") && s.attrs.type === "error");
    assert.equal(errorCondition(err), "resource-constraint");
  });

  it("lets only the configured creators create rooms (XEP-0045 §10.1.1 not-allowed)", async () => {
    const server = await startTestServer({ muc: { creators: ["alice@localhost"] } });
    for (const u of ["alice", "bob"]) await server.createAccount(u, u + "pass");
    const bob = await connect(server, "bob");
    assert.equal(errorCondition(await join(bob, `mine@${MUC}`, "Bob")), "not-allowed");
    const alice = await connect(server, "alice");
    assert.deepEqual(codes(await join(alice, `mine@${MUC}`, "Alice")), [110, 201]);
    // shutting down tells occupants why they leave (status 332)
    const stopped = server.stop();
    const bye = await alice.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `mine@${MUC}/Alice`);
    assert.deepEqual(codes(bye), [110, 332]);
    await stopped;
  });
});
