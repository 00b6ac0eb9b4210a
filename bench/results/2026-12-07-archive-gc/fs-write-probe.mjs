import fs from "node:fs";
const fd = fs.openSync("/tmp/fsw.out", "w");
const buf = Buffer.alloc(16000, 97);
const N = 5000;
function cpu() { return process.cpuUsage(); }
const t0 = process.hrtime.bigint(); const c0 = cpu();
if (process.argv[2] === "sync") { for (let i = 0; i < N; i++) fs.writeSync(fd, buf); done(); }
else { let i = 0; const next = () => { if (i++ >= N) return done(); fs.write(fd, buf, 0, buf.length, null, next); }; next(); }
function done() { const c = cpu(c0); const t = Number(process.hrtime.bigint() - t0) / 1e3;
  const st = fs.readFileSync("/proc/self/task/" + process.pid + "/stat", "utf8").slice(0).split(") ")[1].split(" ");
  console.log(process.argv[2], "wall µs/op", (t / N).toFixed(1), "proc cpu µs/op", ((c.user + c.system) / N).toFixed(1), "main thread ticks", Number(st[11]) + Number(st[12])); }
