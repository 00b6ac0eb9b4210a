// XEP-0133 "Delete a User" over real sockets: only configured admins see and run it, the form
// stage comes first (XEP-0050 §3.4), and the deletion is the same lifecycle as XEP-0077 <remove/>.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { connectClient, xml, type TestClient } from "../helpers/client.js";
import { jid } from "../../src/jid/jid.js";

const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NODE = "http://jabber.org/protocol/admin#delete-user";

describe("service administration (XEP-0133)", () => {
  let srv: TestServer;
  const clients: TestClient[] = [];
  before(async () => {
    srv = await startTestServer({ admins: ["root@localhost"] });
    for (const u of ["root", "eve", "gone"]) await srv.createAccount(u, u + "pass");
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await srv.stop();
  });
  const connect = async (u: string) => {
    const c = await connectClient(srv, u, u + "pass");
    clients.push(c);
    return c;
  };
  const items = async (c: TestClient) =>
    (await c.iq(xml("iq", { type: "get", to: "localhost" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: NS_COMMANDS }))))
      .getChild("query")!
      .getChildren("item")
      .map((i) => i.attrs.node as string);

  it("is listed and runnable for admins only", async () => {
    const root = await connect("root");
    const eve = await connect("eve");
    assert.ok((await items(root)).includes(NODE));
    assert.ok(!(await items(eve)).includes(NODE));
    await assert.rejects(eve.iq(xml("iq", { type: "set", to: "localhost" }, xml("command", { xmlns: NS_COMMANDS, node: NODE, action: "execute" }))), /forbidden/);
  });

  it("asks with a form, then deletes the account through the account lifecycle", async () => {
    const root = await connect("root");
    const gone = await connect("gone");
    await gone.send(xml("presence"));
    const first = (await root.iq(xml("iq", { type: "set", to: "localhost" }, xml("command", { xmlns: NS_COMMANDS, node: NODE, action: "execute" })))).getChild("command")!;
    assert.equal(first.attrs.status, "executing");
    assert.ok(first.getChild("actions")?.getChild("complete"));
    const field = first.getChild("x", "jabber:x:data")!.getChildren("field").find((f) => f.attrs.var === "accountjids");
    assert.equal(field?.attrs.type, "jid-multi");
    const submit = (jids: string[]) =>
      root.iq(
        xml(
          "iq",
          { type: "set", to: "localhost" },
          xml(
            "command",
            { xmlns: NS_COMMANDS, node: NODE, sessionid: first.attrs.sessionid, action: "complete" },
            xml("x", { xmlns: "jabber:x:data", type: "submit" }, xml("field", { var: "FORM_TYPE" }, xml("value", {}, "http://jabber.org/protocol/admin")), xml("field", { var: "accountjids" }, ...jids.map((j) => xml("value", {}, j)))),
          ),
        ),
      );
    await assert.rejects(submit(["nobody@localhost"]), /item-not-found/);
    await assert.rejects(submit(["someone@elsewhere.example"]), /not-acceptable/);
    const done = (await submit(["gone@localhost"])).getChild("command")!;
    assert.equal(done.attrs.status, "completed");
    assert.match(done.getChildText("note") ?? "", /gone@localhost/);
    assert.equal(await srv.core.accounts.exists(jid("gone", "localhost")), false);
    assert.equal(await srv.core.storage.countMentions("gone@localhost"), 0);
    // the deleted account's session was closed (RFC 6120 §4.9.3.12 not-authorized)
    assert.equal(srv.core.sessionsOf(jid("gone", "localhost")).length, 0);
  });
});
