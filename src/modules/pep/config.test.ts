import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { StanzaError } from "../../core/errors.js";
import { applyFields, checkPublishOptions, configForm, defaultConfig, FORM_PUBLISH_OPTIONS, itemLimit, parseForm, type SubmittedForm } from "./config.js";
import { parseXml } from "../../xml/parse-element.js";

const options = (fields: Record<string, string>): SubmittedForm => ({ formType: FORM_PUBLISH_OPTIONS, fields: new Map(Object.entries(fields).map(([k, v]) => [k, [v]])) });
const preconditionFails = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof StanzaError && e.condition === "conflict" && e.appCondition?.name === "precondition-not-met");

describe("PEP node configuration", () => {
  it("parses a submitted form (XEP-0004) and refuses repeated fields", () => {
    const f = parseForm(
      parseXml(`<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE" type="hidden"><value>${FORM_PUBLISH_OPTIONS}</value></field><field var="pubsub#access_model"><value>open</value></field></x>`),
    );
    assert.equal(f.formType, FORM_PUBLISH_OPTIONS);
    assert.deepEqual([...f.fields], [["pubsub#access_model", ["open"]]]);
    assert.throws(() => parseForm(parseXml(`<x xmlns="jabber:x:data" type="submit"><field var="a"/><field var="a"/></x>`)), StanzaError);
    assert.throws(() => parseForm(parseXml(`<x xmlns="jabber:x:data" type="submit"><field/></x>`)), StanzaError);
  });

  it("applies fields, max_items including max, and refuses bad values", () => {
    const c = applyFields(defaultConfig(), new Map([["pubsub#max_items", ["max"]], ["pubsub#access_model", ["whitelist"]], ["pubsub#persist_items", ["true"]]]), 256);
    assert.equal(c.max_items, "max");
    assert.equal(itemLimit(c, 256), 256);
    assert.equal(c.access_model, "whitelist");
    assert.throws(() => applyFields(defaultConfig(), new Map([["pubsub#max_items", ["1000"]]]), 256), StanzaError);
    assert.throws(() => applyFields(defaultConfig(), new Map([["pubsub#access_model", ["authorize"]]]), 256), StanzaError);
    assert.throws(() => applyFields(defaultConfig(), new Map([["pubsub#unknown", ["1"]]]), 256), StanzaError);
  });

  it("publish-options: become the new node's config, are preconditions on an existing node (XEP-0060 §7.1.5)", () => {
    const created = checkPublishOptions(undefined, options({ "pubsub#access_model": "open" }), 256);
    assert.equal(created.access_model, "open");
    // the same options on the node they created: met
    assert.equal(checkPublishOptions(created, options({ "pubsub#access_model": "open" }), 256).access_model, "open");
    // no options: met whatever the config
    assert.equal(checkPublishOptions(created, undefined, 256), created);
    // conflicting options on an existing node
    preconditionFails(() => checkPublishOptions(defaultConfig(), options({ "pubsub#access_model": "open" }), 256));
    preconditionFails(() => checkPublishOptions(created, options({ "pubsub#max_items": "max" }), 256));
    // unsupported fields and values can never be met
    preconditionFails(() => checkPublishOptions(undefined, options({ "pubsub#no_such_field": "1" }), 256));
    preconditionFails(() => checkPublishOptions(undefined, options({ "pubsub#persist_items": "false" }), 256));
    // boolean forms are equivalent
    const b = checkPublishOptions(undefined, options({ "pubsub#notify_retract": "0" }), 256);
    assert.deepEqual(checkPublishOptions(b, options({ "pubsub#notify_retract": "false" }), 256), b);
    assert.throws(() => checkPublishOptions(undefined, { formType: "other", fields: new Map() }, 256), StanzaError);
  });

  it("renders the configuration form with the current values", () => {
    const form = configForm({ ...defaultConfig(), access_model: "open", max_items: "max" });
    const value = (v: string) => form.getChildren("field").find((f) => f.attrs.var === v)?.getChildren("value").map((e) => e.text());
    assert.deepEqual(value("FORM_TYPE"), ["http://jabber.org/protocol/pubsub#node_config"]);
    assert.deepEqual(value("pubsub#access_model"), ["open"]);
    assert.deepEqual(value("pubsub#max_items"), ["max"]);
    // the form a client submits back unchanged applies cleanly
    const back = parseForm(parseXml(form.toString().replace('type="form"', 'type="submit"')));
    assert.equal(applyFields(defaultConfig(), back.fields, 256).access_model, "open");
  });
});
