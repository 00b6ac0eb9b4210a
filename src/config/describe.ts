// Describes every configuration key (type, default, meaning) from the schema itself, and renders
// docs/configuration.md. Regenerate the doc with: npx tsx src/config/describe.ts --write

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { defaultConfig, rawConfigSchema } from "./schema.js";

/** One documented configuration key. */
export interface ConfigKeyDoc {
  /** Dotted path, `[]` marking array elements: `tls.certificates[].cert`. */
  key: string;
  type: string;
  /** The default as YAML-ish text, or a sentence when derived ("<dataDir>/warbler.sqlite"). */
  default: string;
  description: string;
}

function unwrap(s: z.ZodTypeAny): { inner: z.ZodTypeAny; description: string | undefined } {
  let description = s.description;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s._def.schema;
    else break;
    description ??= s.description;
  }
  return { inner: s, description };
}

function typeName(s: z.ZodTypeAny): string {
  const { inner } = unwrap(s);
  if (inner instanceof z.ZodString) return "string";
  if (inner instanceof z.ZodBoolean) return "boolean";
  if (inner instanceof z.ZodNumber) return inner.isInt ? "integer" : "number";
  if (inner instanceof z.ZodEnum) return (inner.options as string[]).map((o) => `"${o}"`).join(" \\| ");
  if (inner instanceof z.ZodArray) return `list of ${typeName(inner.element)}`;
  if (inner instanceof z.ZodObject) return "mapping";
  return "value";
}

function defaultAt(path: string[]): string {
  let v: unknown = defaultConfig();
  for (const p of path) v = (v as Record<string, unknown> | undefined)?.[p];
  if (path.join(".") === "storage.path") return "<dataDir>/warbler.sqlite";
  if (path.join(".") === "backup.dir") return "<dataDir>/backups";
  if (v === undefined) return "(none)";
  return JSON.stringify(v);
}

function walk(schema: z.ZodTypeAny, path: string[], docPath: string, out: ConfigKeyDoc[]): void {
  const { inner, description } = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    for (const [k, v] of Object.entries(inner.shape as Record<string, z.ZodTypeAny>)) {
      walk(v, [...path, k], docPath === "" ? k : `${docPath}.${k}`, out);
    }
    return;
  }
  out.push({ key: docPath, type: typeName(inner), default: defaultAt(path), description: description ?? "" });
  const element = inner instanceof z.ZodArray ? unwrap(inner.element).inner : undefined;
  if (element instanceof z.ZodObject) {
    for (const [k, v] of Object.entries(element.shape as Record<string, z.ZodTypeAny>)) {
      const d = unwrap(v);
      out.push({ key: `${docPath}[].${k}`, type: typeName(d.inner), default: "(required)", description: d.description ?? "" });
    }
  }
}

/** Every configuration key with its type, default and meaning, in schema order. */
export function describeConfig(): ConfigKeyDoc[] {
  const out: ConfigKeyDoc[] = [];
  walk(rawConfigSchema, [], "", out);
  return out;
}

/** The text of docs/configuration.md. */
export function renderConfigReference(): string {
  const rows = describeConfig().map(
    (d) => `| \`${d.key}\` | ${d.type} | \`${d.default}\` | ${d.description.replace(/\|/g, "\\|").replace(/<\w+>(?:\/[\w.-]*\w)?/g, "`$&`")} |`,
  );
  return [
    "# Configuration reference",
    "",
    "<!-- Generated from src/config/schema.ts by `npx tsx src/config/describe.ts --write`; do not edit by hand. -->",
    "",
    "Warbler reads one YAML file, whose path is given on the command line; `warbler.example.yaml` at the",
    "repository root is a commented example. Every key is optional. Unknown keys are errors,",
    "reported with their path (`c2s.prot: unknown key (did you mean \"port\"?)`), so a typo never",
    "silently falls back to a default.",
    "",
    "- Relative paths in the file are resolved against the directory of the file.",
    "- The environment variable `WARBLER_DATA_DIR` overrides `dataDir` (relative to the working directory).",
    "",
    "| Key | Type | Default | Meaning |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  const target = fileURLToPath(new URL("../../docs/configuration.md", import.meta.url));
  writeFileSync(target, renderConfigReference());
  console.log(`wrote ${target}`);
}
