// Tests for configuration loading: YAML, defaults, env override, path resolution, errors.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, defaultConfig, loadConfig, parseConfig } from "./load.js";
import { describeConfig, renderConfigReference } from "./describe.js";

const repoRoot = resolve(import.meta.dirname, "../..");

function write(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "warbler-config-"));
  const file = join(dir, "warbler.yaml");
  writeFileSync(file, text);
  return file;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  assert.fail("expected a ConfigError");
}

test("defaults", () => {
  const c = defaultConfig();
  assert.deepEqual(c.hosts, ["localhost"]);
  assert.equal(c.c2s.port, 5222);
  assert.equal(c.c2s.directTls.port, 5223);
  assert.equal(c.storage.path, join("./data", "warbler.sqlite"));
  assert.equal(c.auth.scramIterations, 10000);
  assert.equal(c.registration.minPasswordLength, 8);
  assert.deepEqual(c.server.contactAddresses.abuse, []);
});

test("hosts are normalized, duplicates rejected", () => {
  assert.deepEqual(parseConfig({ hosts: ["Example.COM.", "MÜNCHEN.de"] }).hosts, ["example.com", "münchen.de"]);
  assert.deepEqual(problems(() => parseConfig({ hosts: ["a.example", "A.example"] })), ['hosts[1]: duplicate host "a.example"']);
  assert.match(problems(() => parseConfig({ hosts: ["bad host"] }))[0]!, /^hosts\[0\]: not a valid domain/);
  assert.deepEqual(problems(() => parseConfig({ hosts: [] })), ["hosts: at least one host is required"]);
});

test("every problem is listed with its path", () => {
  const p = problems(() =>
    parseConfig({
      c2s: { prot: 5 },
      tls: { certificates: [{ cert: 1 }] },
      limits: { maxStanzaSize: 5000 },
      auth: { scramIterations: 100 },
      registration: { mode: "sometimes" },
      server: { contactAddresses: { abuse: ["not a uri"] } },
      bogus: true,
    }),
  );
  assert.equal(p.length, 8, p.join("\n"));
  assert.ok(p.includes('c2s.prot: unknown key (did you mean "port"?)'), p.join("\n"));
  assert.ok(p.some((l) => l.startsWith("tls.certificates[0].cert: ")));
  assert.ok(p.some((l) => l.startsWith("tls.certificates[0].key: ")));
  assert.ok(p.some((l) => l.startsWith("limits.maxStanzaSize: ")));
  assert.ok(p.some((l) => l.startsWith("auth.scramIterations: ")));
  assert.ok(p.some((l) => l.startsWith("registration.mode: ")));
  assert.ok(p.some((l) => l.startsWith("server.contactAddresses.abuse[0]: ")));
  assert.ok(p.some((l) => l.startsWith("bogus: unknown key")), p.join("\n"));
});

test("loadConfig reads YAML and resolves paths against the file", () => {
  const file = write(
    ["hosts: [example.com]", "dataDir: var", "tls:", "  certificates:", "    - { cert: c/full.pem, key: /abs/key.pem }", ""].join("\n"),
  );
  const dir = resolve(file, "..");
  const c = loadConfig(file, {});
  assert.deepEqual(c.hosts, ["example.com"]);
  assert.equal(c.dataDir, join(dir, "var"));
  assert.equal(c.storage.path, join(dir, "var", "warbler.sqlite"));
  assert.deepEqual(c.tls.certificates, [{ cert: join(dir, "c/full.pem"), key: "/abs/key.pem" }]);
});

test("WARBLER_DATA_DIR overrides dataDir", () => {
  const file = write("dataDir: /from/file\n");
  const c = loadConfig(file, { WARBLER_DATA_DIR: "/from/env" });
  assert.equal(c.dataDir, "/from/env");
  assert.equal(c.storage.path, "/from/env/warbler.sqlite");
  assert.equal(loadConfig(undefined, { WARBLER_DATA_DIR: "/x" }).dataDir, "/x");
  assert.equal(loadConfig(undefined, {}).dataDir, resolve("data"));
});

test("file errors", () => {
  assert.match(problems(() => loadConfig("/nonexistent/warbler.yaml", {}))[0]!, /file not found/);
  assert.match(problems(() => loadConfig(write("a: 1\na: 2\n"), {}))[0]!, /warbler\.yaml: Map keys must be unique at line 2, column 1$/);
  assert.match(problems(() => loadConfig(write("- 1\n"), {}))[0]!, /top level must be a mapping/);
  assert.deepEqual(loadConfig(write(""), {}).hosts, ["localhost"]); // empty file = defaults
  assert.deepEqual(problems(() => loadConfig(write("log: { levle: debug }\n"), {})), ['log.levle: unknown key (did you mean "level"?)']);
});

test("the example file is valid and shows the defaults", () => {
  const example = parseYaml(readFileSync(join(repoRoot, "warbler.example.yaml"), "utf8"));
  const parsed = parseConfig(example);
  assert.deepEqual(parsed, defaultConfig());
});

test("docs/configuration.md is up to date and covers every key", () => {
  const keys = describeConfig().map((d) => d.key);
  for (const k of ["hosts", "c2s.directTls.port", "tls.certificates[].key", "server.contactAddresses.security", "modules.disabled"]) {
    assert.ok(keys.includes(k), k);
  }
  assert.ok(describeConfig().every((d) => d.description.length > 0), "every key has a description");
  const onDisk = readFileSync(join(repoRoot, "docs/configuration.md"), "utf8");
  assert.equal(onDisk, renderConfigReference(), "regenerate with: npx tsx src/config/describe.ts --write");
});
