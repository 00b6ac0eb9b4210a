// What archiving costs the event loop per message, measured in one process without sockets or a
// load generator sharing the cores: the real server core and modules on the SQLite backend (its
// append log and worker included), 200 sessions on in-process transports, chat messages to bare
// JIDs pushed through the sessions' input as fast as they are handled, `perTurn` messages per
// event-loop turn. CPU is read per thread from /proc (Linux): the main thread (the event loop)
// and every other thread of the process (the archive worker, SQLite's checkpointer, libuv).
// Modes alternate run by run, so drift of the host hits each mode alike; report the medians.
// Run compiled (tsx wraps every function in a naming helper, which inflates closure-heavy paths):
//   npm run bench:route -- [messages per run, default 100000] [runs per mode, default 3]
//                          [messages per turn, default 20] [modes, default "on,off"]
//                          [entry: "sync" (default) or "callbacks", see ENTRY]
// ("on": every module; "off": every module but mam.) The host drifts: compare builds by
// alternating them run by run and take medians (docs/benchmarks.md).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Core } from "../src/core/core.js";
import type { Session } from "../src/core/session.js";
import { parseConfig } from "../src/config/schema.js";
import { silentLogger } from "../src/core/log.js";
import { createSqliteBackend } from "../src/storage/sqlite.js";
import { jid } from "../src/jid/jid.js";
import { allModules } from "../src/modules/index.js";
import { FakeTransport, bindPlain } from "../test/helpers/fake-transport.js";

const MESSAGES = Number(process.argv[2] ?? 100_000);
const RUNS = Number(process.argv[3] ?? 3);
const PER_TURN = Number(process.argv[4] ?? 20);
const MODES = (process.argv[5] ?? "on,off").split(",");
// "callbacks": each message enters in a callback of its own within the turn, as each socket's read
// does in the server (microtasks run between them; what a module keeps to the turn's end, such
// as session output and archive batches, lives through all of them). "sync" (default): a turn's
// messages enter in one go.
const ENTRY = process.argv[6] ?? "sync";
if (ENTRY !== "sync" && ENTRY !== "callbacks") throw new Error('entry must be "sync" or "callbacks"');
const USERS = 200;

/** The tests' in-process transport, which after the login only counts what the server writes. */
class CountingTransport extends FakeTransport {
  bytes = 0;
  collect = true;
  override write(data: string): void {
    this.bytes += data.length;
    if (this.collect) super.write(data);
  }
}

/** utime + stime of each thread of this process, in clock ticks (1/100 s). */
function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, Number(f[11]) + Number(f[12]));
    } catch {
      // the thread ended
    }
  }
  return out;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

async function run(mode: string): Promise<{ mainUs: number; otherUs: number; wallUs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "warbler-route-bench-"));
  const storage = await createSqliteBackend({ path: join(dir, "warbler.sqlite") });
  const config = parseConfig({ auth: { scramIterations: 4096 }, modules: { disabled: mode === "off" ? ["mam"] : [] } });
  const core = new Core({ config, log: silentLogger(), storage });
  await core.loadModules(allModules);
  const sessions: Session[] = [];
  const transports: CountingTransport[] = [];
  for (let i = 1; i <= USERS; i++) {
    await core.accounts.create(jid(`bench${i}`, "localhost"), "benchpass");
    const t = new CountingTransport(true);
    const s = core.openSession(t);
    await bindPlain(s, t, `bench${i}`, "benchpass");
    s.receive("<presence/>");
    t.collect = false;
    sessions.push(s);
    transports.push(t);
  }
  for (let k = 0; k < 20; k++) await turn();
  const body = "x".repeat(100);
  // The same traffic in every run: sender and recipient from a fixed sequence, never oneself
  const send = (n: number) => {
    const a = n % USERS;
    const b = (a + 1 + ((n * 7919) % (USERS - 1))) % USERS;
    sessions[a]!.receive(`<message to='bench${b + 1}@localhost' type='chat' id='m${n}'><body>${n} ${body}</body></message>`);
  };
  const bytes = () => transports.reduce((s, t) => s + t.bytes, 0);
  const before = threadTicks();
  const wall0 = process.hrtime.bigint();
  for (let n = 0; n < MESSAGES; ) {
    if (ENTRY === "sync") for (let k = 0; k < PER_TURN && n < MESSAGES; k++) send(n++);
    else {
      for (let k = 0; k < PER_TURN && n < MESSAGES; k++) {
        const m = n++;
        setImmediate(() => send(m));
      }
    }
    await turn();
  }
  // Until every message is out: the output stops growing
  for (let last = -1, still = 0; still < 5; ) {
    await turn();
    const b = bytes();
    still = b === last ? still + 1 : 0;
    last = b;
  }
  const wallUs = Number(process.hrtime.bigint() - wall0) / 1000;
  const after = threadTicks();
  let main = 0;
  let other = 0;
  for (const [tid, t] of after) {
    const d = (t - (before.get(tid) ?? 0)) * 10_000; // ticks of 10 ms, in µs
    if (tid === String(process.pid)) main += d;
    else other += d;
  }
  await core.stop?.();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  return { mainUs: main / MESSAGES, otherUs: other / MESSAGES, wallUs: wallUs / MESSAGES };
}

const results = new Map<string, { mainUs: number; otherUs: number; wallUs: number }[]>();
await run(MODES[0]!); // warm-up: JIT, page cache
for (let r = 0; r < RUNS; r++) {
  for (const mode of MODES) {
    const res = await run(mode);
    (results.get(mode) ?? results.set(mode, []).get(mode)!).push(res);
    console.log(`${mode} run ${r + 1}: event loop ${res.mainUs.toFixed(1)} µs/msg, other threads ${res.otherUs.toFixed(1)} µs/msg, wall ${res.wallUs.toFixed(1)} µs/msg`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\n${MESSAGES} messages per run, ${PER_TURN} per turn (entry: ${ENTRY}), ${USERS} sessions; medians of ${RUNS} runs:`);
for (const [mode, rs] of results) {
  console.log(
    `${mode.padEnd(4)} event loop ${median(rs.map((r) => r.mainUs)).toFixed(1)} µs/msg (${rs.map((r) => r.mainUs.toFixed(1)).join(", ")}); other threads ${median(rs.map((r) => r.otherUs)).toFixed(1)} µs/msg`,
  );
}
