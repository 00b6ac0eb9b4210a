// Room configuration and registration forms (XEP-0045 §10.2, §7.10; XEP-0004).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { x } from "../../xml/element.js";
import { StanzaError } from "../../core/errors.js";
import { FORM_ROOMCONFIG, configForm, defaultRoomConfig, parseConfigSubmit, parseRegisterSubmit } from "./forms.js";

const submit = (fields: Record<string, string>) =>
  x("x", { xmlns: "jabber:x:data", type: "submit" }, ...Object.entries(fields).map(([k, v]) => x("field", { var: k }, x("value", null, v))));
const condition = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as StanzaError).condition;
  }
  return "none";
};

describe("room configuration form (XEP-0045 §10.2)", () => {
  const base = defaultRoomConfig(100);

  it("applies the submitted fields and keeps the others", () => {
    const c = parseConfigSubmit(
      submit({
        FORM_TYPE: FORM_ROOMCONFIG,
        "muc#roomconfig_roomname": "Garden",
        "muc#roomconfig_persistentroom": "true",
        "muc#roomconfig_membersonly": "1",
        "muc#roomconfig_whois": "anyone",
        "muc#roomconfig_maxusers": "500",
        "muc#roomconfig_allowpm": "moderators",
        "muc#some_unknown_field": "ignored",
      }),
      base,
      200,
    );
    assert.equal(c.name, "Garden");
    assert.equal(c.persistent, true);
    assert.equal(c.membersOnly, true);
    assert.equal(c.whois, "anyone");
    assert.equal(c.maxUsers, 200, "capped by the service limit");
    assert.equal(c.allowPm, "moderators");
    assert.equal(c.moderated, base.moderated);
  });

  it("makes an instant room from an empty submission (§10.1.2)", () => {
    assert.deepEqual(parseConfigSubmit(x("x", { xmlns: "jabber:x:data", type: "submit" }), base, 100), base);
  });

  it("refuses bad values", () => {
    assert.equal(condition(() => parseConfigSubmit(submit({ "muc#roomconfig_membersonly": "yes" }), base, 100)), "bad-request");
    assert.equal(condition(() => parseConfigSubmit(submit({ "muc#roomconfig_whois": "everyone" }), base, 100)), "not-acceptable");
    assert.equal(condition(() => parseConfigSubmit(submit({ "muc#roomconfig_maxusers": "0" }), base, 100)), "not-acceptable");
    assert.equal(condition(() => parseConfigSubmit(submit({ FORM_TYPE: "urn:other" }), base, 100)), "bad-request");
    // a password-protected room needs its password
    assert.equal(condition(() => parseConfigSubmit(submit({ "muc#roomconfig_passwordprotectedroom": "1" }), base, 100)), "not-acceptable");
    const pw = parseConfigSubmit(submit({ "muc#roomconfig_passwordprotectedroom": "1", "muc#roomconfig_roomsecret": "s3cret" }), base, 100);
    assert.equal(pw.password, "s3cret");
  });

  it("round-trips its own form", () => {
    const form = configForm({ ...base, name: "R", moderated: true }, 100);
    const fields = Object.fromEntries(form.getChildren("field").map((f) => [f.attrs.var!, f.getChildText("value") ?? ""]));
    const c = parseConfigSubmit(submit(fields), base, 100);
    assert.equal(c.name, "R");
    assert.equal(c.moderated, true);
  });
});

describe("registration form (XEP-0045 §7.10)", () => {
  it("reads the nickname and requires it", () => {
    assert.equal(parseRegisterSubmit(submit({ "muc#register_roomnick": " Nick " })), "Nick");
    assert.equal(condition(() => parseRegisterSubmit(submit({}))), "not-acceptable");
  });
});
