// main-thread CPU of archive appends as the mam module makes them (toString + appendSoon x2 per
// message, then the turn's flush), per turn of 400; prints median and min per message
const T = process.argv[2] ?? "/work/main";
const { createSqliteBackend } = await import(T + "/dist/src/storage/sqlite.js");
const { parseXml } = await import(T + "/dist/src/xml/parse-element.js");
const { jid } = await import(T + "/dist/src/jid/jid.js");
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
const cpu = () => performance.now() * 1000;
const dir = mkdtempSync("/tmp/mic/a-");
const st = await createSqliteBackend({ path: dir + "/w.sqlite" });
const store = st.archive("archive");
const users = Array.from({ length: 200 }, (_, i) => jid(`bench${i + 1}`, "localhost"));
const full = users.map((u) => jid(u.local, u.domain, "res"));
const PT = 400, TURNS = Number(process.argv[3] ?? 1000);
const turn = () => new Promise((r) => setImmediate(r));
const batches = [];
for (let t = 0; t < 8; t++) {
  const batch = [];
  for (let k = 0; k < PT; k++) {
    const m = t * PT + k, a = m % 200, b = (a + 1 + ((m * 7919) % 199)) % 200;
    batch.push([full[a], users[b], parseXml(`<message xmlns="jabber:client" to="${users[b].bareString}" type="chat" id="m${m}" from="${full[a].toString()}"><body>${m} ${"x".repeat(100)}</body></message>`)]);
  }
  batches.push(batch);
}
const per = [];
for (let i = 0; i < TURNS; i++) {
  const batch = batches[i % 8];
  const t1 = cpu();
  for (const [from, to, el] of batch) {
    const xml = el.toString();
    store.appendSoon(from.bareString, { when: Date.now(), with: to.bareString, value: xml });
    store.appendSoon(to.bareString, { when: Date.now(), with: from.bareString, value: xml });
  }
  await turn();
  per.push((cpu() - t1) / PT);
}
per.sort((a, b) => a - b);
const q = (p) => per[Math.floor(p * (per.length - 1))].toFixed(2);
console.log(T.padEnd(12), "µs/msg p10", q(0.1), "median", q(0.5), "p90", q(0.9));
await st.close();
rmSync(dir, { recursive: true });
