import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metrics } from "./metrics.js";

describe("metrics registry", () => {
  it("renders counters with _total, labels sorted and escaped, gauges, and # EOF", async () => {
    const m = new Metrics();
    const c = m.counter("x_events", "Events.", ["kind", "a"]);
    c.inc({ kind: 'say "hi"\\\n', a: "1" });
    c.inc({ kind: 'say "hi"\\\n', a: "1" }, 2);
    m.gauge("x_open", "Open things.", () => 3);
    m.gauge("x_rows", "Rows.", async () => [{ labels: { store: "s" }, value: 5 }]);
    const text = await m.render();
    assert.equal(
      text,
      [
        "# TYPE x_events counter",
        "# HELP x_events Events.",
        'x_events_total{a="1",kind="say \\"hi\\"\\\\\\n"} 3',
        "# TYPE x_open gauge",
        "# HELP x_open Open things.",
        "x_open 3",
        "# TYPE x_rows gauge",
        "# HELP x_rows Rows.",
        'x_rows{store="s"} 5',
        "# EOF",
        "",
      ].join("\n"),
    );
  });

  it("refuses bad or duplicate names, and survives a failing gauge", async () => {
    const m = new Metrics();
    assert.throws(() => m.counter("bad name", "x"));
    m.counter("ok", "x");
    assert.throws(() => m.gauge("ok", "x", () => 1));
    m.gauge("broken", "x", () => {
      throw new Error("closed");
    });
    assert.match(await m.render(), /# TYPE broken gauge\n# HELP broken x\n# TYPE ok counter\n# HELP ok x\n# EOF\n$/);
  });
});
