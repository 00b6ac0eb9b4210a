import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StanzaError, StreamError, errorReply } from "./errors.js";
import { x } from "../xml/element.js";

describe("errors", () => {
  it("builds an error reply with swapped addresses and the RFC 6120 §8.3.2 type", () => {
    const msg = x("message", { xmlns: "jabber:client", from: "a@h/r", to: "b@h", id: "1", type: "chat" }, x("body", null, "hi"));
    const reply = errorReply(msg, new StanzaError("service-unavailable"));
    assert.equal(reply.attrs.type, "error");
    assert.equal(reply.attrs.to, "a@h/r");
    assert.equal(reply.attrs.from, "b@h");
    assert.equal(reply.getChildText("body"), "hi");
    const err = reply.getChild("error")!;
    assert.equal(err.attrs.type, "cancel");
    assert.ok(err.getChild("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
  });

  it("leaves the request payload out of IQ errors and carries text and app conditions", () => {
    const iq = x("iq", { xmlns: "jabber:client", type: "get", id: "q" }, x("query", { xmlns: "urn:x" }));
    const reply = errorReply(iq, new StanzaError("not-acceptable", "too big", { app: x("file-too-large", { xmlns: "urn:y" }) }));
    assert.equal(reply.getChild("query"), undefined);
    const err = reply.getChild("error")!;
    assert.equal(err.attrs.type, "modify");
    assert.equal(err.getChildText("text"), "too big");
    assert.ok(err.getChild("file-too-large", "urn:y"));
  });

  it("serializes a stream error in the streams namespace", () => {
    const el = new StreamError("policy-violation", "too large").toElement();
    assert.equal(el.ns, "http://etherx.jabber.org/streams");
    assert.match(el.toString(), /<policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-streams"\/>/);
  });
});
