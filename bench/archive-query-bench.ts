// How long archive queries take on the SQLite backend for an owner with many messages: the last
// page, the first page, a page after an id in the middle, a `with` page (the peer in every move,
// and the peer in runs), a page of a time range, and one id. Medians of five, in ms, with the
// count each query returns. The archive is built as the server builds it: appends of one
// event-loop turn moved together by the append log's worker, beside 100 other owners.
// Run compiled: npm run bench:archive-query -- [messages, default 200000]
// To compare builds, copy this file into the other tree and run it there the same way.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createSqliteBackend } from "../src/storage/sqlite.js";
import type { ArchiveQuery } from "../src/storage/types.js";

const N = Number(process.argv[2] ?? 200_000);
const TURN = 2000;
const dir = mkdtempSync(join(tmpdir(), "warbler-archive-query-bench-"));
const st = await createSqliteBackend({ path: join(dir, "warbler.sqlite") });
const a = st.archive<string>("archive");
const xml = (i: number, from: string) =>
  `<message xmlns="jabber:client" to="u@x" type="chat" id="m${i}" from="${from}/r"><body>${i} ${"x".repeat(100)}</body></message>`;
const t0 = Date.now() - N;
let middle = "";
for (let i = 0; i < N; i += TURN) {
  // u@x talks to 50 peers in turn, message by message
  const ids = await Promise.all(
    Array.from({ length: TURN }, (_, k) => a.append("u@x", { when: t0 + i + k, with: `p${(i + k) % 50}@x`, value: xml(i + k, `p${(i + k) % 50}@x`) })),
  );
  if (i === Math.floor(N / 2 / TURN) * TURN) middle = ids[0]!;
  // v@x talks to one peer per TURN messages (conversations in runs), 100 others to u@x
  await Promise.all(Array.from({ length: TURN }, (_, k) => a.append("v@x", { when: t0 + i + k, with: `p${(i / TURN) % 50}@x`, value: xml(k, "v@x") })));
  await Promise.all(Array.from({ length: TURN }, (_, k) => a.append(`o${k % 100}@x`, { when: t0 + i + k, with: "u@x", value: xml(k, "u@x") })));
}
await a.query("u@x", { limit: 0 }); // everything moved

async function time(label: string, owner: string, q: ArchiveQuery): Promise<void> {
  const ms: number[] = [];
  let count: number | undefined;
  let items = 0;
  for (let k = 0; k < 5; k++) {
    const start = process.hrtime.bigint();
    const r = await a.query(owner, q);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    count = r.count;
    items = r.items.length;
  }
  ms.sort((x, y) => x - y);
  console.log(`${label.padEnd(36)} ${ms[2]!.toFixed(1).padStart(7)} ms  (${items} items, count ${count})`);
}

console.log(`${N} messages of u@x (and as many of v@x and of 100 others); medians of 5:`);
await time("last page (before: \"\", 50)", "u@x", { before: "", limit: 50 });
await time("first page (50)", "u@x", { limit: 50 });
await time("after an id in the middle (50)", "u@x", { after: middle, limit: 50 });
await time("with, last page (peer in every move)", "u@x", { with: "p7@x", before: "", limit: 50 });
await time("with, last page (peer in runs)", "v@x", { with: "p7@x", before: "", limit: 50 });
await time("start..end of 1 s, page of 50", "u@x", { start: t0 + N / 2, end: t0 + N / 2 + 1000, limit: 50 });
await time("one id", "u@x", { ids: [middle] });
await st.close();
rmSync(dir, { recursive: true, force: true });
