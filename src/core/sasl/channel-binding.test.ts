// Tests channel binding over a real loopback TLS connection with throwaway openssl certificates.
// RFC 9266 (tls-exporter), RFC 5929 §4.1 (tls-server-end-point).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate, createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { channelBindingFor, endPointHash } from "./channel-binding.js";
import type { ChannelBinding } from "./types.js";

let dir = "";
let opensslMissing = false;

/** Makes a self-signed certificate with `openssl req -x509`; returns PEM key and cert. */
function makeCert(name: string, keyArgs: string[], digest?: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync(
    "openssl",
    ["req", "-x509", ...keyArgs, ...(digest ? [`-${digest}`] : []), "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
    { stdio: "ignore" },
  );
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}

const ec = () => makeCert("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);

before(() => {
  dir = mkdtempSync(join(tmpdir(), "warbler-cb-"));
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    opensslMissing = true;
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Sides {
  server: ChannelBinding;
  clientExporter: Buffer | undefined;
  peerCertRaw: Buffer;
  protocol: string | null;
}

/** Connects a client to a loopback TLS server and collects both sides' view. */
async function connect(creds: { key: string; cert: string }, clientOpts: tls.ConnectionOptions = {}): Promise<Sides> {
  const server = tls.createServer({ key: creds.key, cert: creds.cert });
  const serverCb = new Promise<ChannelBinding>((resolve, reject) => {
    server.on("secureConnection", (s) => {
      try {
        resolve(channelBindingFor(s));
      } catch (err) {
        reject(err);
      }
      s.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  try {
    const client = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: creds.cert, ...clientOpts });
    await new Promise<void>((resolve, reject) => {
      client.once("secureConnect", resolve);
      client.once("error", reject);
    });
    const protocol = client.getProtocol();
    const clientExporter = protocol === "TLSv1.3" ? client.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)) : undefined;
    const peerCertRaw = client.getPeerCertificate().raw;
    // The server completes its side only after reading the client's Finished: wait for it.
    const serverView = await Promise.race([
      serverCb,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("server handshake timed out")), 5000).unref()),
    ]);
    client.destroy();
    return { server: serverView, clientExporter, peerCertRaw, protocol };
  } finally {
    server.close();
  }
}

describe("channelBindingFor", () => {
  it("computes the same tls-exporter and tls-server-end-point on both sides (TLS 1.3)", async (t) => {
    if (opensslMissing) return t.skip("openssl not available");
    const sides = await connect(ec());
    assert.equal(sides.protocol, "TLSv1.3");
    assert.deepEqual(sides.server.types, ["tls-exporter", "tls-server-end-point"]);
    const exporter = sides.server.get("tls-exporter");
    assert.equal(exporter?.length, 32);
    assert.deepEqual(exporter, sides.clientExporter);
    // ecdsa-with-SHA256 certificate → SHA-256 of the DER the client received.
    assert.deepEqual(sides.server.get("tls-server-end-point"), createHash("sha256").update(sides.peerCertRaw).digest());
    assert.equal(sides.server.get("tls-unique"), undefined);
  });

  it("gives each connection its own exporter value", async (t) => {
    if (opensslMissing) return t.skip("openssl not available");
    const creds = ec();
    const [a, b] = [await connect(creds), await connect(creds)];
    assert.notDeepEqual(a.server.get("tls-exporter"), b.server.get("tls-exporter"));
    assert.deepEqual(a.server.get("tls-server-end-point"), b.server.get("tls-server-end-point"));
  });

  it("does not offer tls-exporter on TLS 1.2", async (t) => {
    if (opensslMissing) return t.skip("openssl not available");
    const sides = await connect(ec(), { maxVersion: "TLSv1.2" });
    assert.equal(sides.protocol, "TLSv1.2");
    assert.deepEqual(sides.server.types, ["tls-server-end-point"]);
    assert.equal(sides.server.get("tls-exporter"), undefined);
  });
});

describe("endPointHash (RFC 5929 §4.1)", () => {
  const der = (pem: string) => new X509Certificate(pem).raw;

  it("uses the signature hash, upgrading SHA-1 to SHA-256", (t) => {
    if (opensslMissing) return t.skip("openssl not available");
    const rsa = ["-newkey", "rsa:1024"];
    assert.equal(endPointHash(der(makeCert("rsa384", rsa, "sha384").cert)), "sha384");
    assert.equal(endPointHash(der(makeCert("rsa512", rsa, "sha512").cert)), "sha512");
    assert.equal(endPointHash(der(makeCert("rsa1", rsa, "sha1").cert)), "sha256");
    assert.equal(endPointHash(der(makeCert("ec384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "sha384").cert)), "sha384");
  });

  it("reads the hash from RSASSA-PSS parameters", (t) => {
    if (opensslMissing) return t.skip("openssl not available");
    const pss = makeCert("pss", ["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:1024", "-sigopt", "rsa_padding_mode:pss"], "sha384");
    assert.equal(endPointHash(der(pss.cert)), "sha384");
  });

  it("is undefined for Ed25519 (no single hash) and for garbage", (t) => {
    if (opensslMissing) return t.skip("openssl not available");
    assert.equal(endPointHash(der(makeCert("ed", ["-newkey", "ed25519"]).cert)), undefined);
    assert.equal(endPointHash(Buffer.from([0x30, 0x03, 0x02, 0x01])), undefined);
    assert.equal(endPointHash(Buffer.alloc(0)), undefined);
  });
});
