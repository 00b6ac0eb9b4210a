// The configuration schema: every key, its type, default and meaning (zod, strict objects so an
// unknown or misspelt key is an error). docs/configuration.md is generated from it (describe.ts).

import { join } from "node:path";
import { z } from "zod";
import { prepDomain } from "../jid/jid.js";
import { LOG_LEVELS } from "../core/log.js";

/** Thrown when a configuration is invalid; `problems` holds one `path: message` line each. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().min(1);
const filePath = z.string().min(1, "must not be empty");

/** A served domain, normalized like a JID domainpart (RFC 7622 §3.2). */
const host = z.string().transform((s, ctx) => {
  try {
    return prepDomain(s);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a valid domain: ${(e as Error).message}` });
    return z.NEVER;
  }
});

/** XEP-0157 addresses are URIs (mailto:, xmpp:, https:...). */
const uri = z.string().refine((s) => /^[a-z][a-z0-9+.-]*:/i.test(s) && URL.canParse(s), {
  message: "must be a URI such as mailto:abuse@example.com or xmpp:admin@example.com",
});
const uris = z.array(uri).default([]);

const rateWindow = (max: number, windowSeconds: number, what: string) =>
  z
    .object({
      max: positiveInt.default(max).describe(`Most ${what} allowed within the window.`),
      windowSeconds: positiveInt.default(windowSeconds).describe("Length of the window, in seconds."),
    })
    .strict()
    .default({});

/** An age X25519 recipient (bech32, "age1" + 58 characters); the backup code parses it fully. */
const ageRecipient = z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, "must be an age public key: age1 followed by 58 characters, as age-keygen prints it");

/** The raw schema, before derived defaults (storage.path) are filled in. */
export const rawConfigSchema = z
  .object({
    hosts: z
      .array(host)
      .min(1, "at least one host is required")
      .default(["localhost"])
      .superRefine((hosts, ctx) => {
        const seen = new Set<string>();
        hosts.forEach((h, i) => {
          if (seen.has(h)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i], message: `duplicate host "${h}"` });
          seen.add(h);
        });
      })
      .describe("Domains served by this server (the part after @ in user addresses). Normalized like JID domains."),
    dataDir: filePath
      .default("./data")
      .describe("Directory for the database, generated certificates and uploads. The WARBLER_DATA_DIR environment variable overrides it."),
    log: z
      .object({
        level: z
          .enum(LOG_LEVELS)
          .default("info")
          .describe('Minimum level logged: fatal, error, warn, info, debug, trace or silent. PRIVACY: "debug" and "trace" may include stanza text.'),
      })
      .strict()
      .default({}),
    storage: z
      .object({
        backend: z.enum(["sqlite", "memory"]).default("sqlite").describe('"sqlite" (persistent) or "memory" (tests; everything is lost on exit).'),
        path: filePath
          .optional()
          .describe(
            "SQLite database file. Default: <dataDir>/warbler.sqlite. The message archive and its append log live beside it, named after it (<path>-archive, <path>-archive-append.<n>, <path>-archive-lock).",
          ),
      })
      .strict()
      .default({}),
    tls: z
      .object({
        certificates: z
          .array(
            z
              .object({
                cert: filePath.describe("PEM certificate chain, leaf first (e.g. Let's Encrypt fullchain.pem)."),
                key: filePath.describe("PEM private key (e.g. Let's Encrypt privkey.pem)."),
              })
              .strict(),
          )
          .default([])
          .describe("Certificate/key pairs; each is used for the hosts its subjectAltName covers (wildcards one level deep)."),
        selfSigned: z
          .boolean()
          .default(true)
          .describe("Generate a self-signed certificate in <dataDir>/certs for each host no configured certificate covers."),
      })
      .strict()
      .default({}),
    c2s: z
      .object({
        host: z.string().min(1).default("0.0.0.0").describe('Address client listeners bind to ("::" for IPv6 and IPv4).'),
        port: port.default(5222).describe("Client port with STARTTLS (RFC 6120). 0 picks a free port."),
        requireTls: z.boolean().default(true).describe("Refuse authentication before TLS is established (RFC 6120 §5.1)."),
        directTls: z
          .object({
            enabled: z.boolean().default(true).describe("Also listen for TLS-from-the-first-byte client connections (XEP-0368)."),
            port: port.default(5223).describe("Port for direct TLS. 0 picks a free port."),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    http: z
      .object({
        enabled: z.boolean().default(true).describe("Serve HTTPS (file upload, WebSocket, host-meta, the privacy page) with the hosts' certificates."),
        host: z.string().min(1).default("0.0.0.0").describe("Address the HTTPS listener binds to."),
        port: port.default(5281).describe("HTTPS port. 0 picks a free port."),
        plain: z
          .object({
            enabled: z.boolean().default(false).describe("Also serve plain HTTP, for a TLS-terminating reverse proxy on the same machine."),
            host: z
              .string()
              .refine((h) => /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(h), "plain HTTP may only bind to a loopback address")
              .default("127.0.0.1")
              .describe("Loopback address for plain HTTP (other addresses are refused: never serve plain HTTP to a network)."),
            port: port.default(5280).describe("Plain HTTP port. 0 picks a free port."),
          })
          .strict()
          .default({}),
        publicUrl: z
          .string()
          .url()
          .optional()
          .describe("Base URL clients reach the HTTP service at (e.g. https://chat.example.com behind a proxy). Default: https://<host>:<port>."),
        maxRequestBytes: positiveInt.default(65536).describe("Largest request body accepted by routes other than file upload, in bytes."),
        requestTimeoutSeconds: positiveInt.default(60).describe("Seconds a request may take to arrive completely."),
      })
      .strict()
      .default({}),
    websocket: z
      .object({
        enabled: z.boolean().default(true).describe("Accept XMPP over WebSocket (RFC 7395) on the HTTP listeners, for web clients."),
        path: z
          .string()
          .regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be an absolute path such as /xmpp-websocket")
          .default("/xmpp-websocket")
          .describe("URL path of the WebSocket endpoint (announced by XEP-0156 host-meta)."),
        trustProxyTls: z
          .boolean()
          .default(false)
          .describe(
            "Treat WebSocket connections on the plain HTTP listener (loopback) as encrypted, because the reverse proxy in front terminates TLS. Leave false unless every client reaches the proxy over https/wss: with false, such connections cannot authenticate while c2s.requireTls is on.",
          ),
        pingIntervalSeconds: z
          .number()
          .int()
          .min(0)
          .default(60)
          .describe("Seconds between WebSocket pings on an idle connection; a connection that missed the previous pong is closed. 0 turns pings off."),
        allowedOrigins: z
          .array(z.string().url())
          .default([])
          .describe(
            "Web origins (e.g. https://chat.example.com) whose pages may open WebSocket connections. Empty allows any origin: web clients are meant to be hosted anywhere, and the login is the XMPP password, never a cookie (RFC 7395 §5).",
          ),
      })
      .strict()
      .default({}),
    metrics: z
      .object({
        enabled: z.boolean().default(false).describe("Serve OpenMetrics/Prometheus figures at /metrics on a listener of their own."),
        host: z.string().min(1).default("127.0.0.1").describe("Address the metrics listener binds to (loopback by default; the figures hold no personal data, but need not be public)."),
        port: port.default(5290).describe("Metrics port. 0 picks a free port."),
      })
      .strict()
      .default({}),
    limits: z
      .object({
        // RFC 6120 §13.12: a server must not block stanzas smaller than 10000 bytes.
        maxStanzaSize: z.number().int().min(10000).default(262144).describe("Largest stanza accepted, in bytes (at least 10000, RFC 6120 §13.12)."),
        maxDepth: z.number().int().min(4).default(32).describe("Deepest element nesting accepted inside the stream."),
        maxSessionsPerAccount: positiveInt.default(10).describe("Most simultaneous sessions (resources) per account."),
        stanzaRatePerSecond: z.number().min(0).default(0).describe("Stanzas per second allowed per session; 0 means unlimited."),
        streamNegotiationTimeoutSeconds: positiveInt
          .default(30)
          .describe("Seconds a new connection has to finish TLS, authentication and resource binding."),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        // RFC 7677 §4: at least 4096 iterations for SCRAM-SHA-256.
        scramIterations: z.number().int().min(4096).default(10000).describe("PBKDF2 iterations for stored SCRAM credentials (at least 4096, RFC 7677 §4)."),
        allowPlain: z.boolean().default(true).describe("Offer the SASL PLAIN mechanism, for clients without SCRAM support."),
        failedLogins: rateWindow(5, 60, "failed logins per address").describe("Throttle for failed authentication attempts per client address."),
        exemptLoopback: z.boolean().default(true).describe("Do not throttle failed logins from loopback addresses (127.0.0.0/8, ::1)."),
      })
      .strict()
      .default({}),
    registration: z
      .object({
        mode: z
          .enum(["open", "closed", "invite"])
          .default("open")
          .describe('In-band registration (XEP-0077): "open" to anyone, "closed", or "invite" (token required).'),
        perAddress: rateWindow(5, 3600, "registrations per address").describe("Throttle for new accounts per client address."),
        exemptLoopback: z.boolean().default(true).describe("Do not throttle registrations from loopback addresses (127.0.0.0/8, ::1)."),
        minPasswordLength: positiveInt
          .default(8)
          .describe("Shortest password accepted at registration and password change (characters). 8 follows NIST SP 800-63B."),
      })
      .strict()
      .default({}),
    server: z
      .object({
        contactAddresses: z
          .object({
            abuse: uris.describe("Where to report abuse (XEP-0157)."),
            admin: uris.describe("Server administrators (XEP-0157)."),
            feedback: uris.describe("Where to send feedback (XEP-0157)."),
            sales: uris.describe("Sales contact (XEP-0157)."),
            security: uris.describe("Where to report security issues (XEP-0157)."),
            support: uris.describe("Where users get help (XEP-0157)."),
          })
          .strict()
          .default({}),
        version: z
          .object({
            name: z.string().min(1).default("Warbler").describe("Software name answered to version queries (XEP-0092)."),
            hideOs: z.boolean().default(true).describe("Leave the operating system out of version answers."),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    offline: z
      .object({
        maxPerAccount: positiveInt.default(1000).describe("Most messages kept for an account while it is offline (XEP-0160); more are refused with resource-constraint."),
        retentionDays: positiveInt.default(30).describe("Days an undelivered offline message is kept before it is deleted."),
      })
      .strict()
      .default({}),
    admins: z
      .array(z.string().regex(/^[^@/\s]+@[^@/\s]+$/, "must be a bare JID such as admin@example.com"))
      .default([])
      .describe("Accounts allowed to run the server's administration commands (XEP-0133), e.g. deleting a user. Each may act on the accounts of its own host."),
    retention: z
      .object({
        sweepMinutes: positiveInt.max(1440).default(15).describe("Minutes between retention sweeps (also run at start-up), which delete data older than each store's retention, uploaded files included."),
      })
      .strict()
      .default({}),
    archive: z
      .object({
        retentionDays: positiveInt.default(90).describe("Days a message stays in the personal archive (XEP-0313) before it is deleted."),
        defaultPolicy: z
          .enum(["always", "roster", "never"])
          .default("always")
          .describe('Archiving for accounts that set no preference (XEP-0441): "always" (the privacy policy\'s default), "roster" or "never".'),
        maxPageSize: positiveInt.default(250).describe("Most messages one archive query returns per page."),
        deleteConversationsWithAccount: z
          .boolean()
          .default(true)
          .describe("Whether deleting an account also deletes its conversations from the other local accounts' archives (the privacy policy: its messages go with it)."),
      })
      .strict()
      .default({}),
    pep: z
      .object({
        maxItems: positiveInt.max(10000).default(256).describe('Most items a personal eventing node keeps (XEP-0163); also what a node configured with max_items "max" keeps (XEP-0402 bookmarks).'),
        maxNodes: positiveInt.max(10000).default(100).describe("Most personal eventing nodes one account may have; creating more is refused with resource-constraint."),
      })
      .strict()
      .default({}),
    vcard: z
      .object({
        maxSize: z.number().int().min(1024).default(65536).describe("Largest vCard (XEP-0054) an account may store, in bytes of XML, photo included; larger ones are refused with not-acceptable."),
      })
      .strict()
      .default({}),
    upload: z
      .object({
        enabled: z.boolean().default(true).describe("Offer HTTP File Upload (XEP-0363) to local accounts, on <domainPrefix>.<host>. Needs the HTTPS listener or http.publicUrl."),
        domainPrefix: z
          .string()
          .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "must be one DNS label, e.g. upload")
          .default("upload")
          .describe('The upload service\'s address is this label followed by the host ("upload.example.com").'),
        maxFileSize: positiveInt.default(104857600).describe("Largest file accepted, in bytes (default 100 MiB, room for phone videos). Announced to clients (XEP-0363 §3)."),
        quotaDailyBytes: z.number().int().min(0).default(1073741824).describe("Bytes an account may upload in any 24 hours (default 1 GiB); 0 means unlimited."),
        quotaTotalBytes: z.number().int().min(0).default(5368709120).describe("Bytes an account may have stored at once (default 5 GiB); 0 means unlimited."),
        slotTtlSeconds: positiveInt.default(300).describe("Seconds an upload URL stays valid after the client asked for it (XEP-0363 §8 suggests about 60)."),
        retentionDays: positiveInt.default(30).describe("Days an uploaded file is kept before it is deleted (links to it then stop working)."),
        allowedContentTypes: z
          .array(z.string().min(1))
          .default([])
          .describe('Media types accepted ("image/*", "application/pdf"); empty accepts any type not denied. Types a browser could run are always served as downloads.'),
        deniedContentTypes: z.array(z.string().min(1)).default([]).describe("Media types refused even when allowed, e.g. application/x-msdownload."),
      })
      .strict()
      .default({}),
    muc: z
      .object({
        enabled: z.boolean().default(true).describe("Whether each host gets a multi-user chat service (XEP-0045)."),
        subdomain: z
          .string()
          .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "must be one DNS label")
          .default("conference")
          .describe('Label prefixed to each host to form the chat service\'s domain: "conference" serves conference.example.com.'),
        creators: z
          .array(z.string().min(1))
          .default([])
          .describe("Bare JIDs allowed to create rooms; empty: every account of this server may."),
        limits: z
          .object({
            roomsPerAccount: positiveInt.default(20).describe("Most rooms one account may own; creating more is refused with resource-constraint."),
            occupantsPerRoom: positiveInt.default(200).describe("Most occupants in one room; further joins get service-unavailable (XEP-0045 §7.2.9)."),
            messagesPerMinute: positiveInt.default(60).describe("Most groupchat and private messages one occupant may send per minute; more are refused with resource-constraint."),
          })
          .strict()
          .default({}),
        history: z
          .object({
            default: z.number().int().min(0).default(20).describe("Messages of history a joining occupant gets when it does not say how many (XEP-0045 §7.2.15)."),
            max: z.number().int().min(0).default(100).describe("Most messages of history a joining occupant can ask for."),
          })
          .strict()
          .default({}),
        archiveRetentionDays: positiveInt.default(365).describe("Days a message stays in a room's archive (XEP-0313 on the room) before it is deleted."),
        deleteMessagesWithAccount: z
          .boolean()
          .default(true)
          .describe("Whether deleting an account also deletes the messages it sent from every room's archive and history."),
      })
      .strict()
      .default({}),
    export: z
      .object({
        linkMinutes: positiveInt
          .default(15)
          .describe("How long the single-use download link of a user's data export (the ad-hoc command urn:xmpp:warbler:export) stays valid."),
      })
      .strict()
      .default({}),
    streamManagement: z
      .object({
        resumeTimeoutSeconds: positiveInt.default(300).describe("How long a dropped session can be resumed (XEP-0198); its unacknowledged messages then go to offline storage."),
        maxUnacked: positiveInt.default(2000).describe("Most stanzas kept unacknowledged per session before the session is closed."),
      })
      .strict()
      .default({}),
    backup: z
      .object({
        recipients: z
          .array(ageRecipient)
          .default([])
          .describe("Public keys (age1…, as `age-keygen` prints them) every backup is encrypted to; the server needs no private key. Empty: no scheduled backups, and `warbler backup` needs --recipient."),
        dir: filePath.optional().describe("Directory the backups are written to. Default: <dataDir>/backups; better a disk or machine of its own."),
        intervalHours: z.number().int().min(0).default(24).describe("Hours between scheduled backups made by the running server; 0 turns them off (`warbler backup` still works, e.g. from cron)."),
        keep: positiveInt.default(7).describe("Newest backups kept in the directory; older ones are deleted after each backup. Deleted accounts and messages leave the backups after keep × intervalHours."),
      })
      .strict()
      .default({}),
    modules: z
      .object({
        disabled: z.array(z.string().min(1)).default([]).describe("Names of feature modules to turn off."),
      })
      .strict()
      .default({}),
  })
  .strict();

/** The full schema: the raw one plus derived defaults. */
export const configSchema = rawConfigSchema.transform((c) => ({
  ...c,
  storage: { ...c.storage, path: c.storage.path ?? join(c.dataDir, "warbler.sqlite") },
  backup: { ...c.backup, dir: c.backup.dir ?? join(c.dataDir, "backups") },
}));

/** A validated configuration with every default filled in. */
export type Config = z.infer<typeof configSchema>;

/** Formats a zod path as `tls.certificates[0].cert`. */
function formatPath(path: (string | number)[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out === "" ? "(root)" : out;
}

/** The object keys the schema accepts at `path`, for "did you mean" hints. */
function knownKeys(path: (string | number)[]): string[] {
  let s: z.ZodTypeAny = rawConfigSchema;
  for (const p of [...path, undefined]) {
    for (;;) {
      if (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s._def.innerType;
      else if (s instanceof z.ZodEffects) s = s._def.schema;
      else break;
    }
    if (p === undefined) break;
    if (typeof p === "number" && s instanceof z.ZodArray) s = s.element;
    else if (typeof p === "string" && s instanceof z.ZodObject) s = s.shape[p];
    else return [];
    if (!s) return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Case-insensitive edit distance counting an adjacent swap as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** One readable line per problem; unknown keys are listed one by one with a suggestion. */
export function formatIssues(issues: z.ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const known = knownKeys(issue.path);
      for (const key of issue.keys) {
        const near = known.filter((k) => editDistance(k, key) <= (key.length <= 4 ? 1 : 2));
        const hint = near.length > 0 ? ` (did you mean "${near[0]}"?)` : known.length > 0 ? ` (expected one of: ${known.join(", ")})` : "";
        out.push(`${formatPath([...issue.path, key])}: unknown key${hint}`);
      }
    } else {
      out.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  return out;
}

/** Validates an already-parsed object (e.g. from YAML) and fills defaults; throws {@link ConfigError}. */
export function parseConfig(obj: unknown): Config {
  const result = configSchema.safeParse(obj ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues));
  return result.data;
}

/** The configuration used when nothing is configured. */
export function defaultConfig(): Config {
  return parseConfig({});
}
