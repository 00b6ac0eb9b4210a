// Tests for certificate loading, self-signed generation and reuse, checks, and SNI selection.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { checkCertificates, loadCertificates, secureContextFor, serverTlsOptions } from "./certs.js";
import { silentLogger } from "../core/log.js";

const log = silentLogger();

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "warbler-certs-"));
}

/** Makes a self-signed pair for the given DNS names, as an operator's CA-issued pair would be. */
function makePair(dir: string, name: string, dnsNames: string[], days = 30): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
    "-days", String(days), "-subj", `/CN=${dnsNames[0]}`, "-addext", `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(",")}`,
  ], { stdio: "ignore" });
  return { cert, key };
}

function config(dataDir: string, hosts: string[], certificates: { cert: string; key: string }[] = [], selfSigned = true) {
  return { hosts, dataDir, tls: { certificates, selfSigned } };
}

test("self-signed certificates are generated once and reused", async () => {
  const dataDir = tempDir();
  const certs = await loadCertificates(config(dataDir, ["localhost", "münchen.example"]), log);
  const local = certs.get("localhost")!;
  assert.equal(local.certPath, join(dataDir, "certs", "localhost.crt"));
  assert.deepEqual(local.names, ["localhost"]);
  assert.equal(local.selfSigned, true);
  assert.equal(statSync(local.keyPath).mode & 0o777, 0o600);
  const days = (local.notAfter.getTime() - Date.now()) / 86400000;
  assert.ok(days > 800 && days <= 826, String(days));
  // IDN hosts appear in the certificate as A-labels.
  assert.deepEqual(certs.get("münchen.example")!.names, ["xn--mnchen-3ya.example"]);

  const mtime = statSync(local.certPath).mtimeMs;
  const again = await loadCertificates(config(dataDir, ["localhost"]), log);
  assert.equal(statSync(local.certPath).mtimeMs, mtime);
  assert.equal(again.get("localhost")!.cert, local.cert);

  // Within 7 days of expiry it is regenerated.
  const late = new Date(local.notAfter.getTime() - 3 * 86400000);
  const renewed = await loadCertificates(config(dataDir, ["localhost"]), log, late);
  assert.notEqual(renewed.get("localhost")!.cert, local.cert);
  assert.equal(readFileSync(local.certPath, "utf8"), renewed.get("localhost")!.cert);
});

test("configured certificates are matched by name, wildcards one level deep", async () => {
  const dir = tempDir();
  const wild = makePair(dir, "wild", ["*.example.test"]);
  const exact = makePair(dir, "exact", ["example.test", "chat.example.test"]);
  const hosts = ["example.test", "chat.example.test", "muc.example.test", "a.b.example.test"];
  const certs = await loadCertificates(config(dir, hosts, [wild, exact]), log);
  assert.equal(certs.get("example.test")!.certPath, exact.cert);
  assert.equal(certs.get("chat.example.test")!.certPath, exact.cert); // exact name beats the wildcard
  assert.equal(certs.get("muc.example.test")!.certPath, wild.cert);
  assert.equal(certs.get("a.b.example.test")!.selfSigned, true); // wildcards cover one label only
});

test("mismatched keys and expired certificates are skipped and reported", async () => {
  const dir = tempDir();
  const a = makePair(dir, "a", ["a.example.test"]);
  const b = makePair(dir, "b", ["b.example.test"]);
  const crossed = { cert: a.cert, key: b.key };
  const certs = await loadCertificates(config(dir, ["a.example.test"], [crossed]), log);
  assert.equal(certs.get("a.example.test")!.selfSigned, true);

  const problems = await checkCertificates(config(dir, ["a.example.test"], [crossed], false));
  assert.ok(problems.some((p) => p.severity === "error" && p.path === b.key && /does not match/.test(p.message)), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.severity === "error" && p.host === "a.example.test"), JSON.stringify(problems));

  const future = new Date(Date.now() + 40 * 86400000);
  const expired = await checkCertificates(config(dir, ["a.example.test"], [a], false), future);
  assert.ok(expired.some((p) => p.severity === "error" && /expired/.test(p.message)), JSON.stringify(expired));

  assert.deepEqual(await checkCertificates(config(dir, ["a.example.test"], [a], false)), []);
  const soon = await checkCertificates(config(dir, ["a.example.test"], [a], false), new Date(Date.now() + 20 * 86400000));
  assert.deepEqual(soon.map((p) => p.severity), ["warning"]);

  const missing = await checkCertificates(config(dir, ["a.example.test"], [{ cert: join(dir, "nope.pem"), key: a.key }], true));
  assert.ok(missing.some((p) => p.severity === "error" && /nope\.pem/.test(p.message)));
});

test("SNI selects the certificate of the requested host", async () => {
  const dataDir = tempDir();
  const certs = await loadCertificates(config(dataDir, ["one.example.test", "two.example.test"]), log);
  assert.ok(secureContextFor(certs, "TWO.example.test"));
  assert.equal(secureContextFor(certs, "other.example.test"), undefined);

  const server = createServer(serverTlsOptions(certs), (s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const peerName = (servername: string) =>
    new Promise<string>((resolve, reject) => {
      const s: TLSSocket = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().subjectaltname ?? "");
        s.destroy();
      });
      s.on("error", reject);
    });
  try {
    assert.equal(await peerName("two.example.test"), "DNS:two.example.test");
    assert.equal(await peerName("one.example.test"), "DNS:one.example.test");
    assert.equal(await peerName("unknown.example.test"), "DNS:one.example.test"); // default: first host
  } finally {
    server.close();
  }
});
