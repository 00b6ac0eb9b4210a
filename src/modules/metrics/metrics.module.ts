// The metrics endpoint: OpenMetrics/Prometheus text at /metrics, served only by the metrics
// listener (loopback by default, see config `metrics`), never by the public HTTP listeners.
// Figures come from the core's registry (src/core/metrics.ts); labels carry no personal data.
import { defineModule } from "../../core/module.js";

/** OpenMetrics 1.0 §4 content type (Prometheus also reads it). */
export const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export const metricsModule = defineModule({
  name: "metrics",
  specs: ["OpenMetrics 1.0"],
  setup(ctx) {
    const core = ctx.core;
    core.metrics.gauge("warbler_store_rows", "Rows held per store (kv values, map entries, archive items).", async () => {
      const counts = (await core.storage.countRows?.()) ?? {};
      // Only declared store names become labels: a fixed vocabulary, never user data.
      return core.storeRegistry().map((s) => ({ labels: { store: s.name }, value: counts[s.name] ?? 0 }));
    });
    core.metrics.gauge("warbler_accounts_online", "Accounts with at least one bound session.", () => core.onlineAccountCount);
    ctx.http({
      methods: ["GET"],
      path: "/metrics",
      scope: "metrics",
      handler: async (_req, res) => {
        const body = Buffer.from(await core.metrics.render());
        res.writeHead(200, { "Content-Type": OPENMETRICS_TYPE, "Content-Length": String(body.length), "Cache-Control": "no-store" });
        res.end(body);
      },
    });
  },
});
