// The privacy inventory: what the server stores, generated from the stores' declarations (owner,
// purpose, retention, export) and the live configuration, so it never claims more or less than the
// code does. docs/privacy.md is this text for the default configuration.
import type { Config } from "../../config/schema.js";
import { RETENTION_SWEEP_MS, type RegisteredStore } from "../core.js";
import type { Retention } from "../../storage/types.js";

/** Human wording of a retention declaration. */
export function describeRetention(r: Retention, owner: string): string {
  switch (r.kind) {
    case "lifetime":
      return owner === "account" ? "until the account is deleted" : `as long as the ${owner} exists`;
    case "duration":
      return `${describeDuration(r.ms)} at most, then deleted automatically`;
    case "forever":
      return `kept without a time limit: ${r.justification}`;
  }
}

/** "7 days", "36 hours", "90 minutes". */
export function describeDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) {
      const n = ms / size;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} ms`;
}

const OWNER_WORDS: Record<string, string> = { account: "your account", room: "the group chat", host: "the server" };

/** The inventory as Markdown. */
export function privacyInventory(stores: RegisteredStore[], config: Config): string {
  const rows = [...stores].sort((a, b) => a.name.localeCompare(b.name));
  const lines: string[] = [];
  lines.push("# What Warbler stores");
  lines.push("");
  lines.push("<!-- Generated from the stores' declarations by `warbler privacy`; do not edit by hand. -->");
  lines.push("");
  lines.push("Warbler keeps as much as a chat service needs and as little as possible. Every piece of");
  lines.push("data it stores is listed here with whom it belongs to, why it is kept and for how long.");
  lines.push("This list is produced from the code's own declarations, so it cannot promise more or less");
  lines.push("than the server does.");
  lines.push("");
  lines.push("| data | belongs to | why it is kept | how long | in your data export |");
  lines.push("|---|---|---|---|---|");
  for (const s of rows) {
    const d = s.declaration;
    lines.push(`| \`${s.name}\` (${s.module}) | ${OWNER_WORDS[d.owner] ?? d.owner} | ${d.purpose} | ${describeRetention(d.retention, d.owner)} | ${d.export ? "yes" : "no"} |`);
  }
  const accountStores = rows.filter((s) => s.declaration.owner === "account").map((s) => `\`${s.name}\``);
  lines.push("");
  lines.push("## When you delete your account");
  lines.push("");
  lines.push(`Deleting an account — from your client (XEP-0077 \`<remove/>\`) or by the administrator (\`warbler deluser\`) —`);
  lines.push(`ends its sessions, tells its contacts, removes it from other users' contact lists on this`);
  lines.push(`server, and deletes every record the account owns: ${accountStores.join(", ")}.`);
  lines.push("");
  lines.push("## What is not stored");
  lines.push("");
  lines.push("- **Passwords.** Only salted SCRAM keys derived from them (RFC 5802, " + `${config.auth.scramIterations} PBKDF2 iterations) are kept; a password cannot be recovered from them.`);
  lines.push("- **Your account's creation time.** Only the date.");
  lines.push("- **IP addresses.** They are held in memory only while a connection is open and, for");
  lines.push(`  throttling failed logins and registrations, for at most ${describeDuration(Math.max(config.auth.failedLogins.windowSeconds, config.registration.perAddress.windowSeconds) * 1000)}; they are never written to the database.`);
  lines.push(`- **Message content in logs.** Logs at level \`info\` (this server: \`${config.log.level}\`) name accounts and events, never message bodies or passwords; only \`debug\` and \`trace\` may include stanza text.`);
  lines.push("");
  lines.push("## Retention");
  lines.push("");
  lines.push(`Data with a time limit is deleted by a sweep at start-up and every ${describeDuration(RETENTION_SWEEP_MS)}.`);
  lines.push("");
  lines.push(...backupSection(config));
  return lines.join("\n");
}

/** The "Backups" section, from the live backup configuration. */
export function backupSection(config: Config): string[] {
  const b = config.backup;
  const lines = ["## Backups", ""];
  if (b.recipients.length === 0) {
    lines.push("Warbler makes no backups on this server: none are configured (`backup.recipients` is empty).");
    lines.push("An administrator who copies the data directory by other means must encrypt the copy.");
    lines.push("");
    return lines;
  }
  const keys = b.recipients.length === 1 ? "one public key" : `${b.recipients.length} public keys`;
  lines.push(`Backups of everything listed above (the database and uploaded files; not TLS keys) are encrypted`);
  lines.push(`to ${keys} in the [age](https://age-encryption.org/) format before they are written. The`);
  lines.push("server holds no private key: it can write backups but cannot read them; only the holders of the");
  lines.push("matching private keys can. Nothing unencrypted is written to disk while a backup is made.");
  lines.push("");
  if (b.intervalHours > 0) {
    const window = b.keep * b.intervalHours * 3_600_000;
    lines.push(`- **How often:** every ${describeDuration(b.intervalHours * 3_600_000)}, made by the running server.`);
    lines.push(`- **How long:** the newest ${b.keep} backup${b.keep === 1 ? " is" : "s are"} kept; older ones are deleted.`);
    lines.push("");
    lines.push("**Deletions and backups.** Deleting your account, a message or any other data removes it from");
    lines.push(`the server at once, but not from backups made before: it stays in them until they are rotated`);
    lines.push(`out, that is for at most ${describeDuration(window)} (${b.keep} × ${b.intervalHours} hours) after the deletion. A backup`);
    lines.push("restored within that window would bring deleted data back; an administrator restoring one must");
    lines.push("delete again what was deleted since the backup was made.");
  } else {
    lines.push(`- **How often:** only when an administrator runs \`warbler backup\` (no schedule in the server).`);
    lines.push(`- **How long:** the newest ${b.keep} backup${b.keep === 1 ? " is" : "s are"} kept; older ones are deleted after each new backup.`);
    lines.push("");
    lines.push("**Deletions and backups.** Deleted data stays in backups made before the deletion until they");
    lines.push(`are rotated out, that is until ${b.keep} newer backup${b.keep === 1 ? " has" : "s have"} been made.`);
  }
  lines.push("");
  return lines;
}
