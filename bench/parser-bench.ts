// Microbenchmark for the XMPP stream parser (src/xml/parser.ts): MB/s and stanzas/s on typical
// chat traffic fed as Buffers in 16 and 64 KiB chunks, plus the cost of reset().
// Run: npx tsx bench/parser-bench.ts

import { StreamParser } from "../src/xml/parser.js";

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>";

function stanza(i: number): string {
  const body = "hello world, this is a fairly ordinary chat message body of about 100 bytes &amp; such " + (i % 1000);
  return `<message to='a@b/c' from='d@e/f' type='chat' id='xyz${i}'><body>${body}</body>` +
    `<active xmlns='http://jabber.org/protocol/chatstates'/></message>\n`;
}

const TARGET_BYTES = 32 * 1024 * 1024;
const parts: string[] = [];
let size = 0;
let count = 0;
while (size < TARGET_BYTES) {
  const s = stanza(count++);
  parts.push(s);
  size += s.length;
}
const payload = Buffer.from(parts.join(""), "utf8");

function chunks(buf: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += n) out.push(buf.subarray(i, i + n));
  return out;
}

/** Wall-clock and CPU-time seconds of f(); CPU time is steadier on a shared, busy machine. */
function timed(f: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  f();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

function run(chunkSize: number): { wall: number; cpu: number; got: number } {
  let got = 0;
  let failed = false;
  const p = new StreamParser({
    streamStart() {},
    stanza() {
      got++;
    },
    streamEnd() {},
    error(e) {
      failed = true;
      console.error("error", e.condition, e.message);
    },
  });
  const cs = chunks(payload, chunkSize);
  p.write(HEADER);
  const t = timed(() => {
    for (const c of cs) p.write(c);
  });
  if (failed || got !== count) throw new Error(`bench broken: ${got}/${count} stanzas`);
  return { ...t, got };
}

function report(label: string, bytes: number, items: number, unit: string, t: { wall: number; cpu: number }): void {
  const mb = bytes / 1e6;
  console.log(
    `${label}: ${(mb / t.wall).toFixed(1)} MB/s wall, ${(mb / t.cpu).toFixed(1)} MB/s cpu, ` +
      `${Math.round(items / t.wall).toLocaleString("en")} ${unit}/s wall`,
  );
}

console.log(`payload ${(payload.length / 1e6).toFixed(1)} MB, ${count} stanzas of ~${Math.round(payload.length / count)} bytes`);
for (const chunkSize of [16384, 65536]) {
  run(chunkSize); // warm-up
  for (let r = 0; r < 3; r++) {
    const t = run(chunkSize);
    report(`chunk ${chunkSize / 1024} KiB run ${r + 1}`, payload.length, t.got, "stanzas", t);
  }
}

// reset(): a stream restart per SASL success / STARTTLS; cost of reset + new header.
{
  const p = new StreamParser({ streamStart() {}, stanza() {}, streamEnd() {}, error(e) { throw e; } });
  const N = 100000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    p.reset();
    p.write(HEADER);
  }
  const perRestart = Number(process.hrtime.bigint() - t0) / N / 1000;
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) p.reset();
  const perReset = Number(process.hrtime.bigint() - t1) / N / 1000;
  console.log(`reset(): ${perReset.toFixed(2)} µs; reset() + stream header: ${perRestart.toFixed(2)} µs`);
}

// Fragments mode (WebSocket): one stanza per message.
{
  let got = 0;
  const p = new StreamParser({ streamStart() {}, stanza() { got++; }, streamEnd() {}, error(e) { throw e; } }, { mode: "fragments" });
  const msgs = parts.slice(0, 100000).map((s) => Buffer.from(s));
  let bytes = 0;
  for (const m of msgs) bytes += m.length;
  for (let r = 0; r < 3; r++) {
    got = 0;
    const t = timed(() => {
      for (const m of msgs) p.write(m);
    });
    if (got !== msgs.length) throw new Error("fragments bench broken");
    report(`fragments run ${r + 1}`, bytes, got, "messages", t);
  }
}
