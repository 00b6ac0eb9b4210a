import { PerformanceObserver, performance } from "node:perf_hooks";
import { writeFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";
if (isMainThread) {
  const out = process.env.LAG_OUT || "/tmp/lag/out.json";
  const secs = []; // [t, gcMs, gcN, majorMs, stallN, stallMs, cpuMs]
  let cur = null;
  const bucket = (t) => { const s = Math.floor(t / 1000); if (!cur || cur[0] !== s) { cur = [s, 0, 0, 0, 0, 0, 0]; secs.push(cur); } return cur; };
  let last = performance.now(); let lastCpu = process.cpuUsage();
  const iv = setInterval(() => {
    const now = performance.now();
    const gap = now - last;
    const b = bucket(performance.timeOrigin + now);
    if (gap > 12) { b[4]++; b[5] += gap; }
    const c = process.cpuUsage(); b[6] += (c.user - lastCpu.user + c.system - lastCpu.system) / 1000; lastCpu = c;
    last = now;
  }, 2);
  iv.unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) { const b = bucket(performance.timeOrigin + e.startTime); const k = e.detail?.kind ?? e.kind; b[1] += e.duration; b[2]++; if (k !== 1) b[3] += e.duration; }
  }).observe({ entryTypes: ["gc"] });
  process.on("exit", () => writeFileSync(out, JSON.stringify({ secs })));
}
