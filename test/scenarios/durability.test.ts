// Durability: Warbler runs as a separate process, a client floods messages for an offline account
// with stream management acks, the server is killed with SIGKILL mid-flood, and after a restart
// every message the server acknowledged is there (XEP-0198 §4, XEP-0160).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { RawConnection } from "../helpers/raw.js";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Child {
  proc: ChildProcess;
  port: number;
}

/** Starts `warbler start` in its own process and resolves with the STARTTLS port it bound. */
async function startProcess(configPath: string): Promise<Child> {
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "start", "-c", configPath], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => reject(new Error("server did not start")), 30_000);
    rl.on("line", (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number; directTls?: boolean };
        if (rec.msg === "c2s listening" && rec.directTls === false && rec.port) {
          clearTimeout(timer);
          resolve(rec.port);
        }
      } catch {
        // not a log line
      }
    });
    proc.once("exit", (code) => reject(new Error(`server exited early (${code})`)));
  });
  return { proc, port };
}

async function addUser(configPath: string, user: string, password: string): Promise<void> {
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "adduser", user, "-c", configPath], { cwd: ROOT, stdio: ["pipe", "ignore", "inherit"] });
  proc.stdin!.end(password + "\n");
  const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
  assert.equal(code, 0, `adduser ${user}`);
}

describe("durability", () => {
  it("keeps every acknowledged message across kill -9 and restart", { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "warbler-durability-"));
    const configPath = join(dir, "warbler.yaml");
    await writeFile(
      configPath,
      [
        "hosts: [localhost]",
        "dataDir: ./data",
        "log: { level: info }",
        "c2s: { host: 127.0.0.1, port: 0, directTls: { enabled: false } }",
        // a fixed HTTPS port would collide with other servers on the machine
        "http: { host: 127.0.0.1, port: 0 }",
        "auth: { scramIterations: 4096 }",
        "offline: { maxPerAccount: 10000 }",
        "",
      ].join("\n"),
    );
    let child: Child | undefined;
    try {
      await addUser(configPath, "sender@localhost", "senderpass");
      await addUser(configPath, "receiver@localhost", "receiverpass");
      child = await startProcess(configPath);
      const { conn } = await RawConnection.login(child.port, "sender", "senderpass", "flood");
      conn.write(`<enable xmlns='urn:xmpp:sm:3'/>`);
      await conn.expect(/<enabled [^>]*\/>/);
      // the receiver never logged in: every message goes to offline storage
      const total = 3000;
      let batch = "";
      for (let i = 1; i <= total; i++) {
        batch += `<message to='receiver@localhost' type='chat' id='n${i}'><body>n${i}</body></message>`;
        if (i % 50 === 0) {
          batch += `<r xmlns='urn:xmpp:sm:3'/>`;
          conn.write(batch);
          batch = "";
        }
      }
      // wait for an ack well into the flood, then kill the server without warning
      let acked = 0;
      while (acked < 300) {
        const a = await conn.expect(/<a xmlns="urn:xmpp:sm:3" h="(\d+)"\/>/, 30_000);
        acked = Number(/h="(\d+)"/.exec(a.slice(a.lastIndexOf("<a ")))![1]);
      }
      child.proc.kill("SIGKILL");
      await new Promise((r) => child!.proc.once("exit", r));
      conn.destroy();
      assert.ok(acked < total, "the kill came before the flood ended");

      child = await startProcess(configPath);
      const r = await RawConnection.login(child.port, "receiver", "receiverpass", "back");
      r.conn.write("<presence/>");
      const text = await r.conn.expect(new RegExp(`<body>n${acked}</body>`), 30_000);
      const got = new Set([...text.matchAll(/<body>n(\d+)<\/body>/g)].map((m) => Number(m[1])));
      for (let i = 1; i <= acked; i++) assert.ok(got.has(i), `acknowledged message n${i} is missing`);
      r.conn.end();
    } finally {
      child?.proc.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });
});
