// Account export and migration in (XEP-0227) over real sockets: a populated account exported
// and imported into a fresh server keeps its data and password; files written by Prosody's
// prosody-migrator and ejabberd's export_piefxis import with working passwords; the user's
// ad-hoc export command (XEP-0050) and its single-use HTTPS download link.
import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient, type XmlElement } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";
import { readTar } from "../../src/core/lifecycle/tar.js";
import { exportToFile, importFile } from "../../src/cli/portable.js";
import type { ImportReport } from "../../src/core/lifecycle/portable.js";
import type { ExportService } from "../../src/modules/export/export.module.js";

const FIXTURES = new URL("../fixtures/xep0227/", import.meta.url).pathname;
const NS_ROSTER = "jabber:iq:roster";
const NS_MAM = "urn:xmpp:mam:2";
const NS_BLOCKING = "urn:xmpp:blocking";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner";
const NS_PRIVATE = "jabber:iq:private";
const NS_UPLOAD = "urn:xmpp:http:upload:0";
const OMEMO_DEVICES = "eu.siacs.conversations.axolotl.devicelist";
const OMEMO_BUNDLE = "eu.siacs.conversations.axolotl.bundles:31415";

const servers: TestServer[] = [];
const clients: TestClient[] = [];
async function server(): Promise<TestServer> {
  const s = await startTestServer();
  servers.push(s);
  return s;
}
async function login(s: TestServer, user: string, password: string, presence = false): Promise<TestClient> {
  const c = await connectClient(s, user, password);
  clients.push(c);
  if (presence) await c.send(xml("presence"));
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
});
after(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function rosterOf(c: TestClient): Promise<Map<string, { name?: string; subscription?: string; groups: string[] }>> {
  const r = await c.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS_ROSTER })));
  const out = new Map<string, { name?: string; subscription?: string; groups: string[] }>();
  for (const i of r.getChild("query", NS_ROSTER)!.getChildren("item")) {
    out.set(i.attrs.jid as string, { name: i.attrs.name as string | undefined, subscription: i.attrs.subscription as string | undefined, groups: i.getChildren("group").map((g) => g.getText()) });
  }
  return out;
}

/** The archive as [stanza id, body] pairs, oldest first. */
async function archiveOf(c: TestClient): Promise<[string, string][]> {
  const queryid = "q" + Math.random().toString(36).slice(2);
  await c.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_MAM, queryid })));
  return c.received
    .filter((s) => s.is("message") && s.getChild("result", NS_MAM)?.attrs.queryid === queryid)
    .map((s) => {
      const r = s.getChild("result", NS_MAM)!;
      const m = r.getChild("forwarded")!.getChild("message")!;
      return [r.attrs.id as string, m.getChildText("body") ?? ""];
    });
}

async function blocklistOf(c: TestClient): Promise<string[]> {
  const r = await c.iq(xml("iq", { type: "get" }, xml("blocklist", { xmlns: NS_BLOCKING })));
  return r.getChild("blocklist", NS_BLOCKING)!.getChildren("item").map((i) => i.attrs.jid as string).sort();
}

function accountReport(r: ImportReport, j: string) {
  const a = r.accounts.find((x) => x.jid === j);
  assert.ok(a, `no report for ${j}`);
  return a;
}

/** Publishes one item to the account's own PEP node, with publish-options (XEP-0060 §7.1.5). */
async function publish(c: TestClient, node: string, id: string, payload: XmlElement, options: Record<string, string> = {}): Promise<void> {
  const form = Object.keys(options).length === 0 ? undefined : xml(
    "publish-options",
    {},
    xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, `${NS_PUBSUB}#publish-options`)), ...Object.entries(options).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v)))),
  );
  await c.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node }, xml("item", { id }, payload)), form)));
}

/** A PEP node's items as [id, payload XML] (oldest first), from the account itself. */
async function itemsOf(c: TestClient, owner: string, node: string): Promise<[string, string][]> {
  const r = await c.iq(xml("iq", { type: "get", to: owner }, xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node }))));
  return r.getChild("pubsub", NS_PUBSUB)!.getChild("items")!.getChildren("item").map((i) => [i.attrs.id as string, (i.children.find((ch) => typeof ch !== "string") as XmlElement).toString()]);
}

/** A node's configuration field values (XEP-0060 §8.2). */
async function configOf(c: TestClient, owner: string, node: string): Promise<Record<string, string>> {
  const r = await c.iq(xml("iq", { type: "get", to: owner }, xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("configure", { node }))));
  const out: Record<string, string> = {};
  for (const f of r.getChild("pubsub")!.getChild("configure")!.getChild("x")!.getChildren("field")) out[f.attrs.var as string] = f.getChildren("value").map((v) => v.getText()).join("|");
  return out;
}

async function vcardOf(c: TestClient): Promise<string> {
  return (await c.iq(xml("iq", { type: "get" }, xml("vCard", { xmlns: "vcard-temp" })))).getChild("vCard", "vcard-temp")!.toString();
}

async function privateOf(c: TestClient, name: string, ns: string): Promise<string> {
  return (await c.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS_PRIVATE }, xml(name, { xmlns: ns }))))).getChild("query", NS_PRIVATE)!.getChild(name, ns)!.toString();
}

/** One HTTPS request to a test server (PUT with a body, or GET). */
function httpsRequest(s: TestServer, url: string, method = "GET", body?: Buffer, type?: string): Promise<{ status: number; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: "localhost" };
    if (body) headers["content-length"] = String(body.length);
    if (type) headers["content-type"] = type;
    const req = https.request({ host: "127.0.0.1", port: s.httpsPort, path: u.pathname + u.search, method, rejectUnauthorized: false, servername: "localhost", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Uploads a file over XEP-0363 (slot over XMPP, PUT over HTTPS); returns the GET URL. */
async function uploadFile(s: TestServer, c: TestClient, filename: string, body: Buffer, type: string): Promise<string> {
  const r = await c.iq(xml("iq", { type: "get", to: `upload.${s.domain}` }, xml("request", { xmlns: NS_UPLOAD, filename, size: String(body.length), "content-type": type })));
  const slot = r.getChild("slot", NS_UPLOAD)!;
  const put = await httpsRequest(s, slot.getChild("put")!.attrs.url as string, "PUT", body, type);
  assert.equal(put.status, 201);
  return slot.getChild("get")!.attrs.url as string;
}

/** The export archive of an account: the document text and the files by path. */
async function exportArchive(s: TestServer, user: string, dir: string): Promise<{ doc: string; files: Map<string, Buffer>; path: string }> {
  const path = join(dir, `${user}-${Math.random().toString(36).slice(2)}.tar.gz`);
  await exportToFile(s.core, jid(user, s.domain), path, true);
  const files = readTar(gunzipSync(await readFile(path)));
  const doc = files.get(`${user}@${s.domain}.xml`)!.toString("utf8");
  return { doc, files, path };
}

describe("account export and import (XEP-0227)", () => {
  it("round-trips a populated account into a fresh server: same data, same password", async () => {
    const a = await server();
    await a.createAccount("alice", "alice-secret");
    await a.createAccount("bob", "bob-secret");
    await a.createAccount("carol", "carol-secret");
    const alice = await login(a, "alice", "alice-secret", true);
    const bob = await login(a, "bob", "bob-secret", true);
    await alice.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: `bob@${a.domain}`, name: "Bob B." }, xml("group", {}, "Friends"), xml("group", {}, "Work")))));
    await alice.iq(xml("iq", { type: "set" }, xml("block", { xmlns: NS_BLOCKING }, xml("item", { jid: "spam@example.net" }))));
    await alice.iq(xml("iq", { type: "set" }, xml("prefs", { xmlns: NS_MAM, default: "roster" }, xml("always", {}, xml("jid", {}, "news@example.org")))));
    for (let i = 1; i <= 3; i++) {
      await bob.send(xml("message", { to: `alice@${a.domain}`, type: "chat", id: `m${i}` }, xml("body", {}, `hello ${i}`)));
      await alice.waitFor((s) => s.is("message") && s.getChildText("body") === `hello ${i}`);
    }
    // carol is offline: this waits in offline storage
    await bob.send(xml("message", { to: `carol@${a.domain}`, type: "chat" }, xml("body", {}, "while you were out")));
    const before = await archiveOf(alice);
    assert.equal(before.length, 3);
    const rosterBefore = await rosterOf(alice);

    // the operator's migration export (with SCRAM keys), through the CLI's code path
    const dir = await mkdtemp(join(tmpdir(), "warbler-export-"));
    try {
      const files: string[] = [];
      for (const u of ["alice", "carol"]) {
        const f = join(dir, `${u}.tar.gz`);
        // the offline message is written before export reads it (carol never logged in)
        await exportToFile(a.core, jid(u, a.domain), f, true);
        files.push(f);
      }
      const b = await server();
      await b.createAccount("bob", "bob-secret");
      for (const f of files) {
        const report = await importFile(b.core, f, { merge: false, renameHosts: new Map() });
        assert.equal(report.accounts[0]!.status, "created");
        assert.equal(report.accounts[0]!.credentials, "scram-sha-1+sha-256");
      }
      const alice2 = await login(b, "alice", "alice-secret");
      assert.deepEqual(await rosterOf(alice2), rosterBefore);
      assert.deepEqual(await archiveOf(alice2), before, "same messages under the same stanza ids");
      assert.deepEqual(await blocklistOf(alice2), ["spam@example.net"]);
      const prefs = await alice2.iq(xml("iq", { type: "get" }, xml("prefs", { xmlns: NS_MAM })));
      assert.equal(prefs.getChild("prefs", NS_MAM)?.attrs.default, "roster");
      // a wrong password still fails
      await assert.rejects(connectClient(b, "alice", "not-her-password"));
      const carol2 = await login(b, "carol", "carol-secret", true);
      await carol2.waitFor((s) => s.is("message") && s.getChildText("body") === "while you were out");

      // importing again adds nothing and leaves the account alone
      const again = await importFile(b.core, files[0]!, { merge: true, renameHosts: new Map() });
      assert.equal(again.accounts[0]!.status, "merged");
      assert.equal(again.accounts[0]!.modules.mam?.imported, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("round-trips PEP nodes, the vCard, private XML, bookmarks and uploaded files", async () => {
    const a = await server();
    await a.createAccount("alice", "alice-secret");
    const alice = await login(a, "alice", "alice-secret");
    const me = `alice@${a.domain}`;
    // vCard first (no photo); the avatar published next becomes its PHOTO (XEP-0398)
    await alice.iq(xml("iq", { type: "set" }, xml("vCard", { xmlns: "vcard-temp" }, xml("FN", {}, "Alice Liddell"), xml("NICKNAME", {}, "ali"))));
    await publish(alice, OMEMO_DEVICES, "current", xml("list", { xmlns: "eu.siacs.conversations.axolotl" }, xml("device", { id: "31415" }), xml("device", { id: "27182" })), { "pubsub#access_model": "open" });
    await publish(alice, OMEMO_BUNDLE, "current", xml("bundle", { xmlns: "eu.siacs.conversations.axolotl" }, xml("signedPreKeyPublic", { signedPreKeyId: "1" }, "BQ=="), xml("identityKey", {}, "BR==")), { "pubsub#access_model": "open" });
    const png = Buffer.from("not really a PNG, but bytes all the same");
    const sha1 = createHash("sha1").update(png).digest("hex");
    await publish(alice, "urn:xmpp:avatar:data", sha1, xml("data", { xmlns: "urn:xmpp:avatar:data" }, png.toString("base64")));
    await publish(alice, "urn:xmpp:avatar:metadata", sha1, xml("metadata", { xmlns: "urn:xmpp:avatar:metadata" }, xml("info", { id: sha1, type: "image/png", bytes: String(png.length) })));
    await alice.iq(xml("iq", { type: "set" }, xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("affiliations", { node: OMEMO_BUNDLE }, xml("affiliation", { jid: "friend@example.org", affiliation: "member" })))));
    await alice.iq(
      xml("iq", { type: "set" }, xml("query", { xmlns: NS_PRIVATE }, xml("exodus", { xmlns: "exodus:prefs" }, xml("defaultnick", {}, "Alice")))),
    );
    await alice.iq(
      xml("iq", { type: "set" }, xml("query", { xmlns: NS_PRIVATE }, xml("storage", { xmlns: "storage:bookmarks" }, xml("conference", { jid: "tea@muc.example.org", name: "Tea party", autojoin: "true" }, xml("nick", {}, "alice"))))),
    );
    const fileBytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const oldUrl = await uploadFile(a, alice, "rabbit hole.bin", fileBytes, "application/octet-stream");

    const nodes = [OMEMO_DEVICES, OMEMO_BUNDLE, "urn:xmpp:avatar:data", "urn:xmpp:avatar:metadata", "urn:xmpp:bookmarks:1", "storage:bookmarks"];
    const itemsBefore = new Map<string, [string, string][]>();
    for (const n of nodes) itemsBefore.set(n, await itemsOf(alice, me, n));
    assert.deepEqual(itemsBefore.get("urn:xmpp:bookmarks:1")!.map(([id]) => id), ["tea@muc.example.org"], "XEP-0402 items from legacy bookmarks");
    const vcardBefore = await vcardOf(alice);
    assert.match(vcardBefore, /BINVAL/);
    const devicesConfig = await configOf(alice, me, OMEMO_DEVICES);
    assert.equal(devicesConfig["pubsub#access_model"], "open");
    const exodus = await privateOf(alice, "exodus", "exodus:prefs");
    const legacy = await privateOf(alice, "storage", "storage:bookmarks");

    const dir = await mkdtemp(join(tmpdir(), "warbler-export-"));
    try {
      // the user's own export holds all of it, the file included
      const user = await exportArchive(a, "alice", dir);
      assert.match(user.doc, /urn:xmpp:warbler:upload:0/);
      assert.match(user.doc, /vcard-temp/);
      assert.match(user.doc, /jabber:iq:private/);
      assert.match(user.doc, new RegExp(OMEMO_BUNDLE.replace(/\./g, "\\.")));
      const archived = [...user.files].filter(([p]) => p.startsWith("files/upload/"));
      assert.equal(archived.length, 1);
      assert.ok(archived[0]![0].endsWith("/rabbit hole.bin"));
      assert.ok(archived[0]![1].equals(fileBytes));

      const b = await server();
      const report = await importFile(b.core, user.path, { merge: false, renameHosts: new Map() });
      const acct = accountReport(report, me);
      assert.deepEqual(acct.pending, []);
      assert.equal(acct.modules.upload?.imported, 1);
      assert.ok(acct.modules.pep!.imported >= 6);
      const alice2 = await login(b, "alice", "alice-secret");
      for (const n of nodes) assert.deepEqual(await itemsOf(alice2, me, n), itemsBefore.get(n), n);
      assert.deepEqual(await configOf(alice2, me, OMEMO_DEVICES), devicesConfig);
      const aff = await alice2.iq(xml("iq", { type: "get" }, xml("pubsub", { xmlns: NS_PUBSUB_OWNER }, xml("affiliations", { node: OMEMO_BUNDLE }))));
      assert.ok(aff.getChild("pubsub")!.getChild("affiliations")!.getChildren("affiliation").some((x) => x.attrs.jid === "friend@example.org" && x.attrs.affiliation === "member"));
      assert.equal(await vcardOf(alice2), vcardBefore);
      assert.equal(await privateOf(alice2, "exodus", "exodus:prefs"), exodus);
      assert.equal(await privateOf(alice2, "storage", "storage:bookmarks"), legacy);

      // the file is served again, under a new address, with the same bytes
      const again = await exportArchive(b, "alice", dir);
      const url = /<file [^>]*url="([^"]+)"/.exec(again.doc)?.[1];
      assert.ok(url, again.doc);
      assert.notEqual(url, oldUrl);
      const got = await httpsRequest(b, url.replace(/&amp;/g, "&"));
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(fileBytes));

      // importing again adds nothing
      const twice = await importFile(b.core, user.path, { merge: true, renameHosts: new Map() });
      assert.equal(accountReport(twice, me).modules.upload?.imported, 0);
      for (const n of nodes) assert.deepEqual(await itemsOf(alice2, me, n), itemsBefore.get(n), n);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("turns imported legacy bookmarks (XEP-0048 in private XML, as ejabberd exports them) into XEP-0402 items", async () => {
    const s = await server();
    const dir = await mkdtemp(join(tmpdir(), "warbler-import-"));
    try {
      const f = join(dir, "bm.xml");
      await writeFile(
        f,
        `<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='zed' password='zed-secret-1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='lounge@muc.example.org' autojoin='1' name='Lounge'><nick>zed</nick></conference></storage></query></user></host></server-data>`,
      );
      const r = await importFile(s.core, f, { merge: false, renameHosts: new Map() });
      assert.equal(accountReport(r, "zed@localhost").modules.private?.imported, 1);
      const zed = await login(s, "zed", "zed-secret-1");
      const items = await itemsOf(zed, "zed@localhost", "urn:xmpp:bookmarks:1");
      assert.deepEqual(items.map(([id]) => id), ["lounge@muc.example.org"]);
      assert.match(items[0]![1], /autojoin="true"/);
      assert.match(items[0]![1], /<nick>zed<\/nick>/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("imports prosody-migrator's files: SCRAM-SHA-1 passwords work, rosters, archives, private XML and PEP nodes arrive", async () => {
    const s = await server();
    for (const u of ["alice", "bob", "carol"]) {
      const r = await importFile(s.core, join(FIXTURES, "prosody", `${u}@localhost.xml`), { merge: false, renameHosts: new Map() });
      assert.equal(accountReport(r, `${u}@localhost`).credentials, "scram-sha-1");
    }
    const alice = await login(s, "alice", "pw-alice-123");
    const roster = await rosterOf(alice);
    assert.deepEqual(roster.get("bob@localhost"), { name: "Bob", subscription: "both", groups: ["Friends"] });
    assert.deepEqual(roster.get("carol@localhost"), { name: "Carol", subscription: "none", groups: ["Work"] });
    const archive = await archiveOf(alice);
    assert.equal(archive.length, 7);
    assert.ok(archive.some(([id, body]) => id === "rUVqLbeB-jg0NFyrH-yZWA-t" && body === "Hi Bob 1"));
    await login(s, "bob", "pw-bob-123");
    await login(s, "carol", "pw-carol-123");
    await assert.rejects(connectClient(s, "alice", "pw-bob-123"));
    // private XML and the PEP nodes (Prosody keeps the vCard as vCard4 in PEP) arrive; nothing waits
    assert.equal(await s.core.storage.kv<string[]>("portable_pending").get("alice@localhost"), undefined);
    assert.match(await privateOf(alice, "exodus", "exodus:prefs"), /<defaultnick>Alice<\/defaultnick>/);
    const vcard4 = await itemsOf(alice, "alice@localhost", "urn:xmpp:vcard4");
    assert.equal(vcard4[0]?.[0], "current");
    assert.match(vcard4[0]![1], /Alice Example/);
    assert.deepEqual((await itemsOf(alice, "alice@localhost", "http://jabber.org/protocol/nick")).map(([, p]) => p), ['<nick xmlns="http://jabber.org/protocol/nick">Alice N</nick>']);
    assert.equal((await configOf(alice, "alice@localhost", "storage:bookmarks"))["pubsub#access_model"], "whitelist");
    assert.equal((await configOf(alice, "alice@localhost", "urn:xmpp:vcard4"))["pubsub#access_model"], "open");
  });

  it("imports ejabberd's export_piefxis files (XInclude, double-base64 SCRAM, offline messages, privacy list, vCard, private XML)", async () => {
    const s = await server();
    const r = await importFile(s.core, join(FIXTURES, "ejabberd", "20261125-133941.xml"), { merge: false, renameHosts: new Map() });
    assert.deepEqual(r.accounts.map((a) => a.jid).sort(), ["alice@localhost", "bob@localhost", "carol@localhost"]);
    const alice = await login(s, "alice", "pw-alice-123");
    assert.deepEqual((await rosterOf(alice)).get("bob@localhost"), { name: "Bob", subscription: "both", groups: ["Friends"] });
    assert.deepEqual(await blocklistOf(alice), ["spammer@example.org"]);
    // ejabberd writes vcard-temp and private XML as XEP-0227 shows them
    assert.equal(await vcardOf(alice), '<vCard xmlns="vcard-temp"><FN>Alice Example</FN><NICKNAME>alice</NICKNAME></vCard>');
    assert.match(await privateOf(alice, "exodus", "exodus:prefs"), /<defaultnick>Alice<\/defaultnick>/);
    const bob = await login(s, "bob", "pw-bob-123");
    assert.equal((await rosterOf(bob)).get("alice@localhost")?.subscription, "both");
    const carol = await login(s, "carol", "pw-carol-123", true);
    await carol.waitFor((m) => m.is("message") && m.getChildText("body") === "Carol, are you there?");
    await carol.waitFor((m) => m.is("message") && m.getChildText("body") === "Offline note for Carol");
  });

  it("turns a plaintext password in a file into SCRAM keys", async () => {
    const s = await server();
    const dir = await mkdtemp(join(tmpdir(), "warbler-import-"));
    try {
      const f = join(dir, "plain.xml");
      await writeFile(f, `<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'><user name='dave' password='s3crEt-dave'/></host><host jid='elsewhere.example'><user name='x' password='y'/></host></server-data>`);
      const r = await importFile(s.core, f, { merge: false, renameHosts: new Map() });
      assert.equal(accountReport(r, "dave@localhost").credentials, "password");
      assert.deepEqual(r.skippedHosts, ["elsewhere.example"]);
      const rec = await s.core.accounts.get(jid("dave", "localhost"));
      assert.ok(!JSON.stringify(rec).includes("s3crEt-dave"));
      await login(s, "dave", "s3crEt-dave");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}
function get(port: number, url: string, auth?: [string, string]): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: "localhost" };
    if (auth) headers.authorization = "Basic " + Buffer.from(`${auth[0]}:${auth[1]}`).toString("base64");
    const req = https.request({ host: "127.0.0.1", port, path: u.pathname, rejectUnauthorized: false, servername: "localhost", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the user's data export (ad-hoc command + HTTPS link)", () => {
  const run = (c: TestClient, domain: string) => c.iq(xml("iq", { type: "set", to: domain }, xml("command", { xmlns: NS_COMMANDS, node: "urn:xmpp:warbler:export", action: "execute" })));
  const urlOf = (r: XmlElement) => r.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!.getChildren("field").find((f) => f.attrs.var === "url")!.getChildText("value")!;

  it("is listed, answers with a single-use link for the account only, and the link expires", async () => {
    const s = await server();
    await s.createAccount("alice", "alice-secret");
    await s.createAccount("bob", "bob-secret");
    const alice = await login(s, "alice", "alice-secret");
    const bob = await login(s, "bob", "bob-secret");
    await alice.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: "friend@example.org", name: "Friend" }))));

    // XEP-0050 §2.2: the command list on the domain
    const items = await alice.iq(xml("iq", { type: "get", to: s.domain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: NS_COMMANDS })));
    assert.ok(items.getChild("query")!.getChildren("item").some((i) => i.attrs.node === "urn:xmpp:warbler:export"));
    const info = await alice.iq(xml("iq", { type: "get", to: s.domain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    assert.ok(info.getChild("query")!.getChildren("feature").some((f) => f.attrs.var === NS_COMMANDS));

    const r = await run(alice, s.domain);
    assert.equal(r.getChild("command", NS_COMMANDS)!.attrs.status, "completed");
    const url = urlOf(r);
    assert.match(url, new RegExp(`^https://localhost:${s.httpsPort}/export/[A-Za-z0-9_-]{43}$`));

    assert.equal((await get(s.httpsPort, url)).status, 401, "no credentials");
    assert.equal((await get(s.httpsPort, url, ["bob", "bob-secret"])).status, 403, "another account");
    assert.equal((await get(s.httpsPort, url, ["alice", "wrong"])).status, 401, "wrong password");
    const ok = await get(s.httpsPort, url, [`alice@${s.domain}`, "alice-secret"]);
    assert.equal(ok.status, 200);
    const files = readTar(gunzipSync(ok.body));
    const doc = files.get("alice@localhost.xml")!.toString("utf8");
    assert.match(doc, /<user name="alice">/);
    assert.match(doc, /friend@example\.org/);
    assert.doesNotMatch(doc, /scram-credentials|stored-key|server-key/, "no keys in the user's export");
    assert.equal((await get(s.httpsPort, url, ["alice", "alice-secret"])).status, 404, "single use");

    // bob's own link serves bob, never alice
    const bobUrl = urlOf(await run(bob, s.domain));
    assert.notEqual(bobUrl, url);
    assert.equal((await get(s.httpsPort, bobUrl, ["alice", "alice-secret"])).status, 403);

    // expiry: a link past its lifetime is gone
    const late = urlOf(await run(alice, s.domain));
    s.core.service<ExportService>("export")!.sweep(Date.now() + s.config.export.linkMinutes * 60_000 + 1);
    assert.equal((await get(s.httpsPort, late, ["alice", "alice-secret"])).status, 404, "expired");
  });
});
