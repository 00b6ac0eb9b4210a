// The `export` and `import` commands: an account's data as a XEP-0227 archive, and XEP-0227
// files (Prosody's prosody-migrator, ejabberd's export_piefxis, Warbler's own exports) imported.
import { open, readFile, unlink } from "node:fs/promises";
import type { Writable } from "node:stream";
import type { Core } from "../core/core.js";
import type { Jid } from "../jid/jid.js";
import { importServerData, parseImportBytes, writeExportArchive, type ImportReport } from "../core/lifecycle/portable.js";
import { Xep0227Error, readXep0227File } from "../core/lifecycle/xep0227.js";

/** Writes the export archive of `account` to `out` (a path; "-" for stdout). */
export async function exportToFile(core: Core, account: Jid, out: string, withCredentials: boolean): Promise<void> {
  // PRIVACY: the archive holds personal data: readable by the owner only (XEP-0227 §7)
  // the file is created (exclusively) before anything can fail, so a failure removes only our own file
  const stream: Writable = out === "-" ? process.stdout : (await open(out, "wx", 0o600)).createWriteStream();
  try {
    await writeExportArchive(core, account, { purpose: withCredentials ? "migration" : "user", credentials: withCredentials }, stream);
  } catch (err) {
    // no half-written archive is left behind
    if (out !== "-") await unlink(out).catch(() => {});
    throw err;
  }
}

/** True when the file starts like a gzip stream or a ustar archive (a Warbler export). */
async function isArchive(path: string): Promise<boolean> {
  const fh = await open(path, "r").catch((err: Error) => {
    throw new Xep0227Error(`cannot read ${path}: ${err.message}`);
  });
  try {
    const head = Buffer.alloc(262);
    const { bytesRead } = await fh.read(head, 0, 262, 0);
    return (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) || (bytesRead >= 262 && head.subarray(257, 262).toString("latin1") === "ustar");
  } finally {
    await fh.close();
  }
}

/** Imports one file: a XEP-0227 document (XIncludes followed) or a Warbler export archive. */
export async function importFile(
  core: Core,
  path: string,
  opts: { merge: boolean; renameHosts: Map<string, string> },
): Promise<ImportReport> {
  const common = { existing: opts.merge ? ("merge" as const) : ("skip" as const), renameHosts: opts.renameHosts };
  if (await isArchive(path)) {
    const { root, files } = parseImportBytes(await readFile(path));
    return importServerData(core, root, { ...common, files });
  }
  return importServerData(core, await readXep0227File(path), common);
}

/** The import report as text lines for the operator (counts and notes, no content). */
export function formatImportReport(path: string, r: ImportReport): string {
  const lines = [`${path}:`];
  for (const h of r.skippedHosts) lines.push(`  host ${h}: not a host of this server, skipped (see --rename-host)`);
  for (const a of r.accounts) {
    const creds = a.credentials ? ` [${a.credentials}]` : "";
    lines.push(`  ${a.status} ${a.jid}${creds}${a.reason ? `: ${a.reason}` : ""}`);
    for (const [m, res] of Object.entries(a.modules)) {
      lines.push(`    ${m}: ${res.imported} imported${res.notes && res.notes.length > 0 ? ` (${res.notes.join("; ")})` : ""}`);
    }
    if (a.pending.length > 0) lines.push(`    kept for modules not loaded: ${a.pending.join(", ")}`);
  }
  return lines.join("\n") + "\n";
}
