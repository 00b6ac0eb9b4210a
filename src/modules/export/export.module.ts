// The user's own data export: an ad-hoc command (XEP-0050, node urn:xmpp:warbler:export) that
// answers with a single-use, expiring HTTPS link (XEP-0066 OOB and a XEP-0004 form); the link
// serves the account's XEP-0227 archive to the account itself (HTTP Basic authentication, RFC 7617).
import { randomBytes } from "node:crypto";
import { defineModule } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { HttpError } from "../../core/http.js";
import { documentName, writeExportArchive } from "../../core/lifecycle/portable.js";
import { parseJid, tryParseJid, type Jid } from "../../jid/jid.js";
import { x } from "../../xml/element.js";
import type { AdhocService } from "../adhoc/adhoc.module.js";

/** The ad-hoc command's node. */
export const EXPORT_NODE = "urn:xmpp:warbler:export";
/** The HTTP path prefix of download links. */
export const EXPORT_PATH = "/export/";
const NS_OOB = "jabber:x:oob";
const REALM = 'Basic realm="Warbler data export", charset="UTF-8"';

/** The "export" service (tests and admin tools). */
export interface ExportService {
  /** Issues a download link for the account; undefined when HTTPS is off. */
  issueLink(account: Jid, host: string): { url: string; expires: number } | undefined;
  /** Forgets links that expired before `now`; returns how many. */
  sweep(now: number): number;
}

interface Link {
  account: string;
  expires: number;
}

export const exportModule = defineModule({
  name: "export",
  specs: ["XEP-0050", "XEP-0227", "XEP-0066", "RFC 7617"],
  after: ["adhoc"],
  setup(ctx) {
    const core = ctx.core;
    const ttl = ctx.config.export.linkMinutes * 60_000;
    // PRIVACY: links live in memory only; a restart invalidates them
    const links = new Map<string, Link>();

    const issueLink = (account: Jid, host: string) => {
      const base = core.httpBaseUrl(host);
      if (base === undefined) return undefined;
      const token = randomBytes(32).toString("base64url");
      const expires = Date.now() + ttl;
      links.set(token, { account: account.bareString, expires });
      return { url: `${base}${EXPORT_PATH}${token}`, expires };
    };
    const sweep = (now: number) => {
      let n = 0;
      for (const [t, l] of links) {
        if (l.expires <= now) {
          links.delete(t);
          n++;
        }
      }
      return n;
    };
    ctx.every(60_000, () => void sweep(Date.now()));
    ctx.on("account/deleting", ({ jid }) => {
      for (const [t, l] of links) if (l.account === jid.bareString) links.delete(t);
    });
    ctx.provide<ExportService>("export", { issueLink, sweep });

    ctx.use<AdhocService>("adhoc")?.add({
      node: EXPORT_NODE,
      name: "Export my data",
      // Only a local account, for itself: the command exports the requester's own account
      allowed: async (from, host) => from.domain === host && from.local !== "" && core.httpBaseUrl(host) !== undefined && (await core.accountExists(from.bare())),
      execute: (req) => {
        if (!req.origin) throw new StanzaError("forbidden");
        const link = issueLink(req.from.bare(), req.to.domain);
        if (!link) throw new StanzaError("service-unavailable", "HTTPS is not enabled on this server");
        const minutes = Math.round(ttl / 60_000);
        return {
          note: {
            type: "info",
            text: `Your data is ready for download at ${link.url} — sign in with your address and password. The link works once and expires in ${minutes} minutes.`,
          },
          payloads: [
            x(
              "x",
              { xmlns: NS.DATA, type: "result" },
              x("title", null, "Your data export"),
              x("field", { var: "url", type: "text-single", label: "Download link (works once)" }, x("value", null, link.url)),
              x("field", { var: "expires", type: "text-single", label: "Expires" }, x("value", null, new Date(link.expires).toISOString())),
            ),
            x("x", { xmlns: NS_OOB }, x("url", null, link.url), x("desc", null, "Your data export (XEP-0227 archive)")),
          ],
        };
      },
    });

    ctx.http({
      methods: ["GET"],
      path: EXPORT_PATH,
      handler: async (req, res) => {
        const token = req.path.slice(EXPORT_PATH.length);
        const link = links.get(token);
        // an unknown, used or expired link all look the same
        if (!link || link.expires <= Date.now()) {
          if (link) links.delete(token);
          throw new HttpError(404, "This download link is unknown, used or expired");
        }
        const auth = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.raw.headers.authorization ?? "");
        if (!auth) throw new HttpError(401, "Sign in with your address and password", { "WWW-Authenticate": REALM });
        const decoded = Buffer.from(auth[1]!, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        const user = colon >= 0 ? decoded.slice(0, colon) : "";
        const password = colon >= 0 ? decoded.slice(colon + 1) : "";
        const account = parseJid(link.account);
        const claimed = tryParseJid(user.includes("@") ? user : `${user}@${account.domain}`);
        // The link is the account's own: another account's sign-in is refused, whatever its password
        if (!claimed || !claimed.bare().equals(account)) throw new HttpError(403, "This link belongs to another account");
        if (!(await ctx.accounts.verify(account, password))) {
          throw new HttpError(401, "Wrong address or password", { "WWW-Authenticate": REALM });
        }
        // Single use: gone before the first byte leaves
        if (!links.delete(token)) throw new HttpError(404, "This download link is unknown, used or expired");
        ctx.log.info({ user: account.bareString }, "data export downloaded");
        res.writeHead(200, {
          "Content-Type": "application/gzip",
          "Content-Disposition": `attachment; filename="${documentName(account).replace(/\.xml$/, "")}.tar.gz"`,
          "Cache-Control": "no-store",
        });
        try {
          await writeExportArchive(core, account, { purpose: "user", credentials: false }, res);
        } catch (err) {
          ctx.log.error({ user: account.bareString, err: err instanceof Error ? err.message : String(err) }, "data export failed mid-stream");
          res.destroy();
        }
      },
    });
  },
});
