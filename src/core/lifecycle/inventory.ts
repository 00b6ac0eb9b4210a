// The privacy inventory: what the server stores, generated from the stores' declarations (owner,
// purpose, retention, export) and the live configuration, so it never claims more or less than the
// code does. docs/privacy.md is this text for the default configuration.
import type { Config } from "../../config/schema.js";
import type { RegisteredStore } from "../core.js";
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

/** One stored kind of data, in words. */
export interface InventoryRow {
  store: string;
  module: string;
  owner: string;
  purpose: string;
  retention: string;
  export: boolean;
}

/**
 * The privacy inventory as data, rendered as Markdown (docs/privacy.md, `warbler privacy`) and as
 * the HTML page at /privacy. Prose uses only `code` and **bold** inline markup, which both
 * renderers understand, so there is one text and never two descriptions that could drift apart.
 */
export interface Inventory {
  intro: string[];
  rows: InventoryRow[];
  sections: { title: string; paragraphs: string[]; bullets?: string[] }[];
}

/** Builds the inventory from the stores' declarations and the live configuration. */
export function buildInventory(stores: RegisteredStore[], config: Config): Inventory {
  const sorted = [...stores].sort((a, b) => a.name.localeCompare(b.name));
  const rows = sorted.map((s) => ({
    store: s.name,
    module: s.module,
    owner: OWNER_WORDS[s.declaration.owner] ?? s.declaration.owner,
    purpose: s.declaration.purpose,
    retention: describeRetention(s.declaration.retention, s.declaration.owner),
    export: s.declaration.export,
  }));
  const accountStores = sorted.filter((s) => s.declaration.owner === "account").map((s) => `\`${s.name}\``);
  return {
    intro: [
      "Warbler keeps as much as a chat service needs and as little as possible. Every piece of\n" +
        "data it stores is listed here with whom it belongs to, why it is kept and for how long.\n" +
        "This list is produced from the code's own declarations, so it cannot promise more or less\n" +
        "than the server does.",
    ],
    rows,
    sections: [
      {
        title: "When you delete your account",
        paragraphs: [
          "Deleting an account — from your client (XEP-0077 `<remove/>`) or by the administrator (`warbler deluser`) —\n" +
            "ends its sessions, tells its contacts, removes it from other users' contact lists on this\n" +
            `server, and deletes every record the account owns: ${accountStores.join(", ")}.` +
            (config.archive.deleteConversationsWithAccount
              ? "\nIts conversations also leave the other users' message archives on this server, its undelivered\nmessages to others are deleted, and other users' blocklists forget it."
              : "\nIts undelivered messages to others are deleted and other users' blocklists forget it; copies of its\nconversations in other users' message archives stay (`archive.deleteConversationsWithAccount` is off)."),
        ],
      },
      {
        title: "What is not stored",
        paragraphs: [],
        bullets: [
          "**Passwords.** Only salted SCRAM keys derived from them (RFC 5802, " +
            `${config.auth.scramIterations} PBKDF2 iterations) are kept; a password cannot be recovered from them.`,
          "**Your account's creation time.** Only the date.",
          "**IP addresses.** They are held in memory only while a connection is open and, for\n" +
            `  throttling failed logins and registrations, for at most ${describeDuration(Math.max(config.auth.failedLogins.windowSeconds, config.registration.perAddress.windowSeconds) * 1000)}; they are never written to the database.`,
          `**Message content in logs.** Logs at level \`info\` (this server: \`${config.log.level}\`) name accounts and events, never message bodies or passwords; only \`debug\` and \`trace\` may include stanza text.`,
          // PRIVACY: the pep module's XEP-0115 cache (memory only) maps a hash of client software features to those features
          ...(stores.some((s) => s.module === "pep")
            ? ["**What your client software supports.** To send only the updates your apps asked for, the server asks them which ones they want (XEP-0115) and remembers the answers in memory, keyed by a hash of the app's features; they do not say who uses the app and are never written to the database."]
            : []),
        ],
      },
      {
        title: "Retention",
        paragraphs: [`Data with a time limit is deleted by a sweep at start-up and every ${describeDuration(config.retention.sweepMinutes * 60_000)}.`],
      },
      { title: "Backups", ...backupContent(config) },
    ],
  };
}

/** The "Backups" section from the live backup configuration: what is made, how often, how long kept. */
export function backupContent(config: Config): { paragraphs: string[]; bullets: string[] } {
  const b = config.backup;
  if (b.recipients.length === 0) {
    return {
      paragraphs: [
        "Warbler makes no backups on this server: none are configured (`backup.recipients` is empty).\n" +
          "An administrator who copies the data directory by other means must encrypt the copy.",
      ],
      bullets: [],
    };
  }
  const keys = b.recipients.length === 1 ? "one public key" : `${b.recipients.length} public keys`;
  const intro =
    "Backups of everything listed above (the database and uploaded files; not TLS keys) are encrypted\n" +
    `to ${keys} in the age format (age-encryption.org) before they are written. The\n` +
    "server holds no private key: it can write backups but cannot read them; only the holders of the\n" +
    "matching private keys can. Nothing unencrypted is written to disk while a backup is made.";
  const kept = `the newest ${b.keep} backup${b.keep === 1 ? " is" : "s are"} kept; older ones are deleted`;
  if (b.intervalHours > 0) {
    const window = b.keep * b.intervalHours * 3_600_000;
    return {
      paragraphs: [
        intro,
        "**Deletions and backups.** Deleting your account, a message or any other data removes it from\n" +
          "the server at once, but not from backups made before: it stays in them until they are rotated\n" +
          `out, that is for at most ${describeDuration(window)} (${b.keep} × ${b.intervalHours} hours) after the deletion. A backup\n` +
          "restored within that window would bring deleted data back; an administrator restoring one must\n" +
          "delete again what was deleted since the backup was made.",
      ],
      bullets: [`**How often:** every ${describeDuration(b.intervalHours * 3_600_000)}, made by the running server.`, `**How long:** ${kept}.`],
    };
  }
  return {
    paragraphs: [
      intro,
      "**Deletions and backups.** Deleted data stays in backups made before the deletion until they\n" +
        `are rotated out, that is until ${b.keep} newer backup${b.keep === 1 ? " has" : "s have"} been made.`,
    ],
    bullets: ["**How often:** only when an administrator runs `warbler backup` (no schedule in the server).", `**How long:** ${kept} after each new backup.`],
  };
}

/** The inventory as Markdown. */
export function privacyInventory(stores: RegisteredStore[], config: Config): string {
  const inv = buildInventory(stores, config);
  const lines: string[] = [];
  lines.push("# What Warbler stores");
  lines.push("");
  lines.push("<!-- Generated from the stores' declarations by `warbler privacy`; do not edit by hand. -->");
  lines.push("");
  for (const p of inv.intro) lines.push(p, "");
  lines.push("| data | belongs to | why it is kept | how long | in your data export |");
  lines.push("|---|---|---|---|---|");
  for (const r of inv.rows) {
    lines.push(`| \`${r.store}\` (${r.module}) | ${r.owner} | ${r.purpose} | ${r.retention} | ${r.export ? "yes" : "no"} |`);
  }
  for (const sec of inv.sections) {
    if (lines[lines.length - 1] !== "") lines.push("");
    lines.push(`## ${sec.title}`, "");
    for (const p of sec.paragraphs) lines.push(p, "");
    for (const b of sec.bullets ?? []) lines.push(`- ${b}`);
    if (sec.bullets?.length) lines.push("");
  }
  if (lines[lines.length - 1] !== "") lines.push("");
  return lines.join("\n");
}

