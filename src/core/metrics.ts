// A small metrics registry (counters and gauges) rendered in the Prometheus/OpenMetrics text
// exposition format (OpenMetrics 1.0 §4; Prometheus text format 0.0.4). Labels never hold
// personal data: no JIDs, no addresses — only fixed vocabularies (transport, stanza kind, condition).

/** Label values by label name. */
export type Labels = Record<string, string>;

/** A monotonically increasing count. */
export interface Counter {
  inc(labels?: Labels, by?: number): void;
}

/** One sample a gauge reports at collection time. */
export interface Sample {
  labels?: Labels;
  value: number;
}

/** Reads the current value(s) of a gauge; may be asynchronous (storage counts). */
export type GaugeCollector = () => Sample[] | number | Promise<Sample[] | number>;

interface CounterFamily {
  kind: "counter";
  help: string;
  labelNames: string[];
  values: Map<string, { labels: Labels; value: number }>;
}

interface GaugeFamily {
  kind: "gauge";
  help: string;
  collect: GaugeCollector;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value (backslash, double quote, newline), as the text format requires. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`);
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** The registry: modules add counters and gauges; the metrics endpoint renders them all. */
export class Metrics {
  private readonly families = new Map<string, CounterFamily | GaugeFamily>();

  /**
   * A counter named `name` (without the `_total` suffix, which is added on output). Label values
   * must come from a fixed vocabulary: never a JID, an address or user text.
   */
  counter(name: string, help: string, labelNames: string[] = []): Counter {
    this.checkName(name, labelNames);
    const fam: CounterFamily = { kind: "counter", help, labelNames, values: new Map() };
    this.families.set(name, fam);
    return {
      inc: (labels = {}, by = 1) => {
        const picked: Labels = {};
        for (const l of fam.labelNames) picked[l] = labels[l] ?? "";
        const key = fam.labelNames.map((l) => picked[l]).join("\u0000");
        const cur = fam.values.get(key);
        if (cur) cur.value += by;
        else fam.values.set(key, { labels: picked, value: by });
      },
    };
  }

  /** A gauge whose value is read when the metrics are collected. */
  gauge(name: string, help: string, collect: GaugeCollector): void {
    this.checkName(name, []);
    this.families.set(name, { kind: "gauge", help, collect });
  }

  private checkName(name: string, labelNames: string[]): void {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    if (this.families.has(name)) throw new Error(`metric ${name} registered twice`);
    for (const l of labelNames) if (!LABEL_NAME.test(l)) throw new Error(`invalid label name ${l}`);
  }

  /** Every metric in the OpenMetrics text format, ending with `# EOF`. */
  async render(): Promise<string> {
    const out: string[] = [];
    for (const [name, fam] of [...this.families].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`# TYPE ${name} ${fam.kind}`);
      out.push(`# HELP ${name} ${fam.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      if (fam.kind === "counter") {
        for (const { labels, value } of fam.values.values()) out.push(`${name}_total${formatLabels(labels)} ${formatValue(value)}`);
      } else {
        let samples: Sample[] | number;
        try {
          samples = await fam.collect();
        } catch {
          continue; // a failing collector (storage closing) leaves its gauge empty, not the page
        }
        if (typeof samples === "number") out.push(`${name} ${formatValue(samples)}`);
        else for (const s of samples) out.push(`${name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
      }
    }
    out.push("# EOF");
    return out.join("\n") + "\n";
  }
}
