// Scenario tests over real sockets for multi-user chat (XEP-0045) with three accounts: creating
// and configuring rooms, joining, groupchat, history, private messages, moderation, members-only
// rooms, invitations, occupant ids (XEP-0421), self-ping (XEP-0410), the room archive (XEP-0313)
// and destruction.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient } from "../helpers/client.js";
import {
  MUC,
  NS_DATA,
  NS_DELAY,
  NS_DISCO_ITEMS,
  NS_MUC_OWNER,
  NS_MUC_USER,
  NS_SID,
  admin,
  adminList,
  codes,
  configure,
  createRoom,
  discoInfo,
  errorCondition,
  groupchat,
  iqError,
  item,
  join,
  occupantId,
  roomMam,
  waitBody,
  waitSubject,
} from "../helpers/muc.js";

describe("multi-user chat scenarios (XEP-0045)", () => {
  let server: TestServer;
  const open: TestClient[] = [];
  const connect = async (user: string, resource = "r1") => {
    const c = await connectClient(server, user, user + "pass", { resource });
    open.push(c);
    await c.send(xml("presence"));
    await c.waitFor((s) => s.is("presence") && s.attrs.from === c.jid);
    return c;
  };
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;

  before(async () => {
    server = await startTestServer({ muc: { history: { default: 5, max: 20 } } });
    for (const u of ["alice", "bob", "carol"]) await server.createAccount(u, u + "pass");
    alice = await connect("alice");
    bob = await connect("bob");
    carol = await connect("carol");
  });

  after(async () => {
    for (const c of open) await c.close();
    await server?.stop();
  });

  it("lists the chat service on the domain and describes it (XEP-0045 §6.1, §6.2)", async () => {
    const r = await alice.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: NS_DISCO_ITEMS })));
    assert.ok(r.getChild("query")!.getChildren("item").some((i) => i.attrs.jid === MUC));
    const info = await discoInfo(alice, MUC);
    assert.ok(info.features.includes("http://jabber.org/protocol/muc"));
    assert.equal(info.identities[0]?.attrs.category, "conference");
  });

  it("creates a reserved room: locked until configured, status 201, then configured by form", async () => {
    const room = `reserved@${MUC}`;
    const self = await join(alice, room, "Alice");
    assert.deepEqual(codes(self), [110, 201]);
    // §7.2.16: the (empty) subject ends the creator's entry too
    const subject = await waitSubject(alice, room);
    assert.equal(subject.getChildText("subject"), "");
    assert.equal(item(self).affiliation, "owner");
    assert.equal(item(self).role, "moderator");
    // §10.1.1: others cannot enter a locked room
    const refused = await join(bob, room, "Bob");
    assert.equal(refused.attrs.type, "error");
    assert.equal(errorCondition(refused), "item-not-found");
    // §10.1.3: the configuration form, then its submission
    const form = await alice.iq(xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS_MUC_OWNER })));
    const vars = form.getChild("query")!.getChild("x", NS_DATA)!.getChildren("field").map((f) => f.attrs.var);
    assert.ok(vars.includes("muc#roomconfig_membersonly") && vars.includes("muc#roomconfig_whois"));
    assert.equal(await iqError(bob, xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS_MUC_OWNER }))), "item-not-found");
    await configure(alice, room, { "muc#roomconfig_roomname": "The Reserve", "muc#roomconfig_roomdesc": "Configured", "muc#roomconfig_persistentroom": "1" });
    const info = await discoInfo(bob, room);
    assert.ok(info.features.includes("muc_persistent"));
    assert.ok(info.features.includes("muc_semianonymous"));
    assert.ok(info.features.includes("urn:xmpp:mam:2"));
    assert.ok(info.features.includes("urn:xmpp:occupant-id:0"));
    assert.equal(info.fields["muc#roominfo_description"], "Configured");
    assert.equal(info.fields["muc#roominfo_occupants"], "1");
    assert.equal(info.identities[0]?.attrs.name, "The Reserve");
    // Non-owners may not read the form (§10.2)
    assert.equal(await iqError(bob, xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS_MUC_OWNER }))), "forbidden");
    // A public room is listed by the service (§6.3)
    const items = await bob.iq(xml("iq", { type: "get", to: MUC }, xml("query", { xmlns: NS_DISCO_ITEMS })));
    assert.ok(items.getChild("query")!.getChildren("item").some((i) => i.attrs.jid === room && i.attrs.name === "The Reserve"));
  });

  it("joins, shows presence to all, relays groupchat with occupant ids and stanza ids", async () => {
    const room = `lobby@${MUC}`;
    await createRoom(alice, room, "Alice", { "muc#roomconfig_persistentroom": "1" });
    const bobSelf = await join(bob, room, "Bob");
    assert.deepEqual(codes(bobSelf), [110, 170]);
    assert.equal(item(bobSelf).role, "participant");
    assert.equal(item(bobSelf).jid, undefined, "semi-anonymous: no real JID to a participant");
    await waitSubject(bob, room);
    // alice (moderator) sees bob's real JID (§7.2.4)
    const seen = await alice.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Bob`);
    assert.equal(item(seen).jid, bob.jid);
    await join(carol, room, "Carol");
    // Carol got Alice's and Bob's presence before her own
    assert.ok(await carol.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Alice`));
    await waitSubject(carol, room);

    await groupchat(bob, room, "hello room");
    const got = await Promise.all([alice, bob, carol].map((c) => waitBody(c, "hello room")));
    for (const m of got) {
      assert.equal(m.attrs.from, `${room}/Bob`);
      assert.equal(m.attrs.type, "groupchat");
      assert.equal(occupantId(m), occupantId(got[0]!));
      const sid = m.getChild("stanza-id", NS_SID);
      assert.equal(sid?.attrs.by, room);
    }
    // A forged occupant id is replaced (XEP-0421 §4)
    await groupchat(carol, room, "forged", xml("occupant-id", { xmlns: "urn:xmpp:occupant-id:0", id: occupantId(got[0]!)! }));
    const forged = await waitBody(alice, "forged");
    assert.equal(forged.getChildren("occupant-id", "urn:xmpp:occupant-id:0").length, 1);
    assert.notEqual(occupantId(forged), occupantId(got[0]!));
    // §7.4: non-occupants cannot send to the room
    const outsider = await connect("alice", "r2");
    await groupchat(outsider, room, "from outside");
    const err = await outsider.waitFor((s) => s.is("message") && s.attrs.type === "error");
    assert.equal(errorCondition(err), "not-acceptable");
  });

  it("sends history on join with delays, as much as asked (XEP-0045 §7.2.15)", async () => {
    const room = `history@${MUC}`;
    await createRoom(alice, room, "Alice");
    for (let i = 1; i <= 4; i++) await groupchat(alice, room, `h${i}`);
    await waitBody(alice, "h4");
    await alice.send(xml("message", { to: room, type: "groupchat" }, xml("subject", {}, "Topic!")));
    await alice.waitFor((s) => s.is("message") && s.getChildText("subject") === "Topic!");
    await join(bob, room, "Bob", { history: { maxstanzas: "2" } });
    const subject = await waitSubject(bob, room);
    assert.equal(subject.getChildText("subject"), "Topic!");
    const hist = bob.received.filter((s) => s.is("message") && s.attrs.from === `${room}/Alice` && s.getChild("body"));
    assert.deepEqual(hist.map((m) => m.getChildText("body")), ["h3", "h4"]);
    for (const m of hist) assert.equal(m.getChild("delay", NS_DELAY)?.attrs.from, room);
    // Conversations joins with maxstanzas=0 when the room has an archive: no history at all
    await join(carol, room, "Carol", { history: { maxstanzas: "0" } });
    await waitSubject(carol, room);
    assert.equal(carol.received.filter((s) => s.is("message") && s.getChild("body") && s.attrs.from?.startsWith(room)).length, 0);
  });

  it("relays private messages between occupants with the muc#user marker (§7.5)", async () => {
    const room = `pm@${MUC}`;
    await createRoom(alice, room, "Alice");
    await join(bob, room, "Bob");
    await bob.send(xml("message", { to: `${room}/Alice`, type: "chat" }, xml("body", {}, "psst")));
    const pm = await waitBody(alice, "psst");
    assert.equal(pm.attrs.from, `${room}/Bob`);
    assert.equal(pm.attrs.type, "chat");
    assert.ok(pm.getChild("x", NS_MUC_USER));
    assert.ok(occupantId(pm));
    await bob.send(xml("message", { to: `${room}/Nobody`, type: "chat" }, xml("body", {}, "lost")));
    const err = await bob.waitFor((s) => s.is("message") && s.attrs.type === "error" && s.attrs.from === `${room}/Nobody`);
    assert.equal(errorCondition(err), "item-not-found");
  });

  it("changes nicknames with status 303 and the new nick (§7.6)", async () => {
    const room = `rename@${MUC}`;
    await createRoom(alice, room, "Alice");
    await join(bob, room, "Bob");
    await bob.send(xml("presence", { to: `${room}/Robert` }));
    const leaving = await alice.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Bob`);
    assert.deepEqual(codes(leaving), [303]);
    assert.equal(item(leaving).nick, "Robert");
    const self = await bob.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Bob`);
    assert.deepEqual(codes(self), [110, 303]);
    const arrived = await alice.waitFor((s) => s.is("presence") && s.attrs.type === undefined && s.attrs.from === `${room}/Robert`);
    assert.equal(occupantId(arrived), occupantId(leaving));
    // a nick in use is refused with an error presence from the wanted nick
    await bob.send(xml("presence", { to: `${room}/Alice` }));
    const err = await bob.waitFor((s) => s.is("presence") && s.attrs.type === "error" && s.attrs.from === `${room}/Alice`);
    assert.equal(errorCondition(err), "conflict");
  });

  it("refuses a nickname in use (409) and one reserved by someone else (§7.2.8, §7.10)", async () => {
    const room = `nicks@${MUC}`;
    await createRoom(alice, room, "Alice", { "muc#roomconfig_persistentroom": "1" });
    const taken = await join(bob, room, "Alice");
    assert.equal(errorCondition(taken), "conflict");
    // carol reserves "Cee" by registration, bob cannot take it
    await carol.iq(
      xml("iq", { type: "set", to: room }, xml("query", { xmlns: "jabber:iq:register" }, xml("x", { xmlns: NS_DATA, type: "submit" }, xml("field", { var: "FORM_TYPE" }, xml("value", {}, "http://jabber.org/protocol/muc#register")), xml("field", { var: "muc#register_roomnick" }, xml("value", {}, "Cee"))))),
    );
    const reserved = await join(bob, room, "Cee");
    assert.equal(errorCondition(reserved), "conflict");
    const nick = await discoInfo(carol, room, "x-roomuser-item");
    assert.equal(nick.identities[0]?.attrs.name, "Cee");
    const members = await adminList(alice, room, { affiliation: "member" });
    assert.deepEqual(members.map((m) => [m.jid, m.nick]), [["carol@localhost", "Cee"]]);
    const self = await join(carol, room, "Cee");
    assert.equal(item(self).affiliation, "member");
  });

  it("kicks (307) and bans (301); a banned user cannot come back (§8.2, §9.1)", async () => {
    const room = `moderation@${MUC}`;
    await createRoom(alice, room, "Alice");
    await join(bob, room, "Bob");
    await join(carol, room, "Carol");
    // participants may not kick (§8.2)
    assert.equal(await iqError(bob, xml("iq", { type: "set", to: room }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { nick: "Carol", role: "none" })))), "forbidden");
    await admin(alice, room, { nick: "Carol", role: "none" }, "Be nice");
    const kicked = await carol.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Carol`);
    assert.deepEqual(codes(kicked), [110, 307]);
    assert.equal(kicked.getChild("x", NS_MUC_USER)!.getChild("item")!.getChildText("reason"), "Be nice");
    assert.equal(kicked.getChild("x", NS_MUC_USER)!.getChild("item")!.getChild("actor")?.attrs.nick, "Alice");
    const seenKick = await bob.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Carol`);
    assert.deepEqual(codes(seenKick), [307]);
    // voice: revoke and grant (§8.3, §8.4)
    await admin(alice, room, { nick: "Bob", role: "visitor" });
    await bob.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Bob` && item(s).role === "visitor");
    await groupchat(bob, room, "muted?");
    const muted = await bob.waitFor((s) => s.is("message") && s.attrs.type === "error");
    assert.equal(errorCondition(muted), "forbidden");
    await admin(alice, room, { nick: "Bob", role: "participant" });
    await bob.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Bob` && item(s).role === "participant");
    // ban
    await admin(alice, room, { jid: "bob@localhost", affiliation: "outcast" }, "Gone");
    const banned = await bob.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Bob`);
    assert.deepEqual(codes(banned), [110, 301]);
    const again = await join(bob, room, "Bob");
    assert.equal(errorCondition(again), "forbidden");
    const outcasts = await adminList(alice, room, { affiliation: "outcast" });
    assert.deepEqual(outcasts.map((o) => o.jid), ["bob@localhost"]);
    // the last owner cannot leave the owner list (§10.7)
    assert.equal(await iqError(alice, xml("iq", { type: "set", to: room }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { jid: "alice@localhost", affiliation: "member" })))), "conflict");
  });

  it("refuses non-members in a members-only room; members enter and can read the member list for OMEMO", async () => {
    const room = `omemo@${MUC}`;
    await createRoom(alice, room, "Alice", {
      "muc#roomconfig_membersonly": "1",
      "muc#roomconfig_whois": "anyone",
      "muc#roomconfig_persistentroom": "1",
    });
    const refused = await join(bob, room, "Bob");
    assert.equal(errorCondition(refused), "registration-required");
    await admin(alice, room, { jid: "bob@localhost", affiliation: "member" });
    // the exact join Conversations sends: <x muc><history maxstanzas='0'/></x> plus caps
    const self = await join(bob, room, "Bob", {
      history: { maxstanzas: "0" },
      extra: [xml("c", { xmlns: "http://jabber.org/protocol/caps", hash: "sha-1", node: "http://conversations.im", ver: "abc=" })],
    });
    assert.deepEqual(codes(self), [100, 110, 170]);
    assert.equal(item(self).jid, bob.jid, "non-anonymous: real JIDs for everyone");
    const aliceSeen = await bob.waitFor((s) => s.is("presence") && s.attrs.from === `${room}/Alice`);
    assert.equal(item(aliceSeen).jid, alice.jid);
    // Conversations collects the JIDs to encrypt to from the member, admin and owner lists
    const jids: string[] = [];
    for (const affiliation of ["member", "admin", "owner"]) for (const i of await adminList(bob, room, { affiliation })) jids.push(i.jid!);
    assert.deepEqual(jids.sort(), ["alice@localhost", "bob@localhost"]);
    const info = await discoInfo(bob, room);
    assert.ok(info.features.includes("muc_membersonly") && info.features.includes("muc_nonanonymous"));
    // an admin's invitation to a members-only room makes the invitee a member (§7.8.2)
    await alice.send(xml("message", { to: room }, xml("x", { xmlns: NS_MUC_USER }, xml("invite", { to: "carol@localhost" }, xml("reason", {}, "join us")))));
    const inv = await carol.waitFor((s) => s.is("message") && s.getChild("x", NS_MUC_USER)?.getChild("invite") !== undefined);
    assert.equal(inv.attrs.from, room);
    assert.equal(inv.getChild("x", NS_MUC_USER)!.getChild("invite")!.attrs.from, alice.jid);
    assert.equal(inv.getChild("x", NS_MUC_USER)!.getChild("invite")!.getChildText("reason"), "join us");
    const carolSelf = await join(carol, room, "Carol");
    assert.equal(item(carolSelf).affiliation, "member");
    // a decline goes back to the inviter (§7.8.3)
    await carol.send(xml("message", { to: room }, xml("x", { xmlns: NS_MUC_USER }, xml("decline", { to: alice.jid }, xml("reason", {}, "busy")))));
    const dec = await alice.waitFor((s) => s.is("message") && s.getChild("x", NS_MUC_USER)?.getChild("decline") !== undefined);
    assert.equal(dec.getChild("x", NS_MUC_USER)!.getChild("decline")!.attrs.from, "carol@localhost");
  });

  it("asks for the password of a password-protected room and silences visitors of a moderated room (§7.2.5, §7.4)", async () => {
    const room = `locked@${MUC}`;
    await createRoom(alice, room, "Alice", {
      "muc#roomconfig_passwordprotectedroom": "1",
      "muc#roomconfig_roomsecret": "open sesame",
      "muc#roomconfig_moderatedroom": "1",
    });
    const info = await discoInfo(bob, room);
    assert.ok(info.features.includes("muc_passwordprotected") && info.features.includes("muc_moderated"));
    assert.equal(errorCondition(await join(bob, room, "Bob")), "not-authorized");
    assert.equal(errorCondition(await join(bob, room, "Bob", { password: "wrong" })), "not-authorized");
    const self = await join(bob, room, "Bob", { password: "open sesame" });
    assert.equal(item(self).role, "visitor");
    await groupchat(bob, room, "can I speak?");
    const err = await bob.waitFor((s) => s.is("message") && s.attrs.type === "error");
    assert.equal(errorCondition(err), "forbidden");
    // visitors may not change the subject either (§8.1)
    await bob.send(xml("message", { to: room, type: "groupchat" }, xml("subject", {}, "mine")));
    assert.equal(errorCondition(await bob.waitFor((s) => s.is("message") && s.attrs.type === "error")), "forbidden");
  });

  it("routes direct invitations between users (XEP-0249)", async () => {
    await alice.send(xml("message", { to: "bob@localhost" }, xml("x", { xmlns: "jabber:x:conference", jid: `lobby@${MUC}`, reason: "come" })));
    const m = await bob.waitFor((s) => s.is("message") && s.getChild("x", "jabber:x:conference") !== undefined);
    assert.equal(m.getChild("x", "jabber:x:conference")!.attrs.jid, `lobby@${MUC}`);
  });

  it("answers self-pings (XEP-0410) and passes other IQs to the occupant", async () => {
    const room = `ping@${MUC}`;
    await createRoom(alice, room, "Alice");
    await join(bob, room, "Bob");
    await bob.iq(xml("iq", { type: "get", to: `${room}/Bob` }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(await iqError(carol, xml("iq", { type: "get", to: `${room}/Bob` }, xml("ping", { xmlns: "urn:xmpp:ping" }))), "not-acceptable");
    // a version request to another occupant reaches its client, from the asker's room JID
    const asked = bob.waitFor((s) => s.is("iq") && s.getChild("query", "jabber:iq:version") !== undefined);
    const answer = alice.iq(xml("iq", { type: "get", to: `${room}/Bob` }, xml("query", { xmlns: "jabber:iq:version" })));
    const req = await asked;
    assert.equal(req.attrs.from, `${room}/Alice`);
    await bob.send(xml("iq", { type: "result", id: req.attrs.id, to: req.attrs.from }, xml("query", { xmlns: "jabber:iq:version" }, xml("name", {}, "BobClient"))));
    const res = await answer;
    assert.equal(res.attrs.from, `${room}/Bob`);
    assert.equal(res.getChild("query")!.getChildText("name"), "BobClient");
  });

  it("keeps occupant ids stable per user across rejoins, distinct per user and per room (XEP-0421)", async () => {
    const room = `ids@${MUC}`;
    const other = `ids2@${MUC}`;
    const a1 = occupantId(await createRoom(alice, room, "Alice"));
    const b1 = occupantId(await join(bob, room, "Bob"));
    await bob.send(xml("presence", { to: `${room}/Bob`, type: "unavailable" }));
    await bob.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Bob`);
    const b2 = occupantId(await join(bob, room, "Robert"));
    assert.ok(a1 && b1);
    assert.equal(b1, b2, "same user, same id under another nick");
    assert.notEqual(a1, b1);
    const b3 = occupantId(await createRoom(bob, other, "Bob"));
    assert.notEqual(b3, b1, "another room, another id");
  });

  it("pages the room archive (XEP-0313 on the room JID) and hides real JIDs in semi-anonymous rooms", async () => {
    const room = `archive@${MUC}`;
    await createRoom(alice, room, "Alice", { "muc#roomconfig_persistentroom": "1" });
    await join(bob, room, "Bob");
    for (let i = 1; i <= 5; i++) {
      await groupchat(i % 2 ? alice : bob, room, `m${i}`);
      await waitBody(bob, `m${i}`);
    }
    const p1 = await roomMam(bob, room, { max: 2 });
    assert.deepEqual(p1.results.map((r) => r.message.getChildText("body")), ["m1", "m2"]);
    assert.equal(p1.fin.attrs.complete, "false");
    assert.equal(p1.set.getChildText("count"), "5");
    assert.equal(p1.results[1]!.message.attrs.from, `${room}/Bob`);
    assert.equal(p1.results[0]!.message.getChild("x", NS_MUC_USER), undefined, "no real JIDs for a participant");
    const p2 = await roomMam(bob, room, { max: 2, after: p1.set.getChildText("last")! });
    assert.deepEqual(p2.results.map((r) => r.message.getChildText("body")), ["m3", "m4"]);
    const last = await roomMam(bob, room, { max: 2, before: "" });
    assert.deepEqual(last.results.map((r) => r.message.getChildText("body")), ["m4", "m5"]);
    assert.equal(last.fin.attrs.complete, "false");
    // moderators see who sent what
    const mod = await roomMam(alice, room, { max: 1 });
    assert.equal(mod.results[0]!.message.getChild("x", NS_MUC_USER)?.getChild("item")?.attrs.jid, "alice@localhost");
    // outsiders of a members-only room may not read it
    await configure(alice, room, { "muc#roomconfig_membersonly": "1" });
    assert.equal(await iqError(carol, xml("iq", { type: "set", to: room }, xml("query", { xmlns: "urn:xmpp:mam:2" }))), "forbidden");
  });

  it("removes occupants whose session ends (unavailable to all)", async () => {
    const room = `leave@${MUC}`;
    await createRoom(alice, room, "Alice");
    const dave = await connect("carol", "r2");
    await join(dave, room, "Carol2");
    await dave.close();
    const gone = await alice.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Carol2`);
    assert.equal(item(gone).role, "none");
  });

  it("destroys a room with an alternate venue and reason (§10.9); a temporary room vanishes when empty", async () => {
    const room = `doomed@${MUC}`;
    await createRoom(alice, room, "Alice", { "muc#roomconfig_persistentroom": "1" });
    await join(bob, room, "Bob");
    await alice.iq(
      xml("iq", { type: "set", to: room }, xml("query", { xmlns: NS_MUC_OWNER }, xml("destroy", { jid: `lobby@${MUC}` }, xml("reason", {}, "Moved")))),
    );
    const p = await bob.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${room}/Bob`);
    const d = p.getChild("x", NS_MUC_USER)!.getChild("destroy")!;
    assert.equal(d.attrs.jid, `lobby@${MUC}`);
    assert.equal(d.getChildText("reason"), "Moved");
    assert.equal(item(p).affiliation, "none");
    assert.equal(await iqError(bob, xml("iq", { type: "get", to: room }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }))), "item-not-found");
    assert.equal((await server.core.storage.dumpOwner(room, "muc_rooms")).length, 0);
    assert.equal((await server.core.storage.dumpOwner(room, "muc_archive")).length, 0);

    const temp = `fleeting@${MUC}`;
    await createRoom(carol, temp, "Carol");
    await carol.send(xml("presence", { to: `${temp}/Carol`, type: "unavailable" }));
    await carol.waitFor((s) => s.is("presence") && s.attrs.type === "unavailable" && s.attrs.from === `${temp}/Carol`);
    assert.equal(await iqError(bob, xml("iq", { type: "get", to: temp }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }))), "item-not-found");
  });

  it("gets and sets the room vCard (owners only)", async () => {
    const room = `avatar@${MUC}`;
    await createRoom(alice, room, "Alice", { "muc#roomconfig_persistentroom": "1" });
    const vcard = xml("vCard", { xmlns: "vcard-temp" }, xml("PHOTO", {}, xml("TYPE", {}, "image/png"), xml("BINVAL", {}, "iVBORw0KGgo=")));
    assert.equal(await iqError(bob, xml("iq", { type: "set", to: room }, vcard)), "forbidden");
    await alice.iq(xml("iq", { type: "set", to: room }, vcard));
    const r = await bob.iq(xml("iq", { type: "get", to: room }, xml("vCard", { xmlns: "vcard-temp" })));
    assert.equal(r.getChild("vCard", "vcard-temp")!.getChild("PHOTO")!.getChildText("BINVAL"), "iVBORw0KGgo=");
  });
});
