// The public web pages: XEP-0156 connection discovery (/.well-known/host-meta and host-meta.json
// listing the RFC 7395 WebSocket endpoint) and the privacy policy at /privacy, generated from the
// stores' declarations and the live configuration, announced in disco#info (XEP-0128).
import { defineModule } from "../../core/module.js";
import type { HttpRequest } from "../../core/http.js";
import type { Core } from "../../core/core.js";
import { buildInventory, type Inventory } from "../../core/lifecycle/inventory.js";
import { NS } from "../../core/namespaces.js";
import { x } from "../../xml/element.js";
import type { DiscoService } from "../disco/disco.module.js";

/**
 * XEP-0128 form announcing the policy URL. No registered FORM_TYPE has a privacy-policy field
 * (XEP-0157's http://jabber.org/network/serverinfo has contact addresses only, and XEP-0068 §3.4
 * forbids unregistered fields there except "x-" ones), so Warbler uses its own FORM_TYPE.
 */
export const PRIVACY_FORM_TYPE = "urn:xmpp:warbler:serverinfo:0";
/** The field of {@link PRIVACY_FORM_TYPE} holding the policy URL(s). */
export const PRIVACY_FIELD = "privacy-policy-urls";
/** Where the policy page is served. */
export const PRIVACY_PATH = "/privacy";

/** XEP-0156 §3: the link relation of the RFC 7395 WebSocket endpoint. */
const REL_WEBSOCKET = "urn:xmpp:alt-connections:websocket";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML or XML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Renders the inventory's inline markup (`code`, **bold**) after escaping everything. */
function inline(s: string): string {
  return escapeHtml(s)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/\s*\n\s*/g, " ");
}

/** The policy page: the same inventory as docs/privacy.md, as a self-contained HTML document. */
export function privacyHtml(inv: Inventory, host: string): string {
  const h: string[] = [];
  h.push("<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">');
  h.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  h.push(`<title>Privacy policy of ${escapeHtml(host)}</title>`);
  h.push(
    "<style>body{font-family:system-ui,sans-serif;line-height:1.5;max-width:48rem;margin:0 auto;padding:1rem;color:#222;background:#fff}" +
      "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}" +
      "code{background:#f3f3f3;padding:0 .2em}@media (max-width:40rem){thead{display:none}tr{display:block;margin-bottom:1rem}" +
      "td{display:block;border:none;border-bottom:1px solid #eee}td::before{content:attr(data-label) \": \";font-weight:bold}}</style>",
  );
  h.push("</head>", "<body>", `<h1>What ${escapeHtml(host)} stores</h1>`);
  for (const p of inv.intro) h.push(`<p>${inline(p)}</p>`);
  const cols = ["data", "belongs to", "why it is kept", "how long", "in your data export"];
  h.push("<table>", `<thead><tr>${cols.map((c) => `<th>${c}</th>`).join("")}</tr></thead>`, "<tbody>");
  for (const r of inv.rows) {
    const cells = [`<code>${escapeHtml(r.store)}</code> (${escapeHtml(r.module)})`, escapeHtml(r.owner), escapeHtml(r.purpose), escapeHtml(r.retention), r.export ? "yes" : "no"];
    h.push(`<tr>${cells.map((c, i) => `<td data-label="${cols[i]}">${c}</td>`).join("")}</tr>`);
  }
  h.push("</tbody>", "</table>");
  for (const sec of inv.sections) {
    h.push(`<h2>${inline(sec.title)}</h2>`);
    for (const p of sec.paragraphs) h.push(`<p>${inline(p)}</p>`);
    if (sec.bullets?.length) h.push("<ul>", ...sec.bullets.map((b) => `<li>${inline(b)}</li>`), "</ul>");
  }
  h.push("</body>", "</html>", "");
  return h.join("\n");
}

/** The host a request is for: its Host header when it is a served domain, else the default host. */
function hostOf(core: Core, req: HttpRequest): string {
  return core.isLocalHost(req.host) ? req.host : core.defaultHost;
}

/** The WebSocket URL for a host (wss:// from the HTTP base URL), undefined when none is served. */
export function websocketUrl(core: Core, host: string): string | undefined {
  const base = core.httpBaseUrl(host);
  if (!base || !core.config.websocket.enabled) return undefined;
  return base.replace(/^http/, "ws") + core.config.websocket.path;
}

export const webModule = defineModule({
  name: "web",
  specs: ["XEP-0156", "XEP-0128", "RFC 7395"],
  after: ["disco"],
  setup(ctx) {
    const core = ctx.core;
    const cors = { "Access-Control-Allow-Origin": "*" }; // XEP-0156 §3: readable by web clients anywhere

    const send = (res: Parameters<Parameters<typeof ctx.http>[0]["handler"]>[1], type: string, body: string, headers: Record<string, string> = {}) => {
      const buf = Buffer.from(body);
      res.writeHead(200, { "Content-Type": type, "Content-Length": String(buf.length), "Cache-Control": "no-cache", ...headers });
      res.end(buf);
    };

    // XEP-0156 §3.1: XRD host-meta (RFC 6415) listing the WebSocket endpoint
    ctx.http({
      methods: ["GET", "HEAD"],
      path: "/.well-known/host-meta",
      handler: (req, res) => {
        const url = websocketUrl(core, hostOf(core, req));
        const links = url ? `  <Link rel="${REL_WEBSOCKET}" href="${escapeHtml(url)}"/>\n` : "";
        const xrd = `<?xml version="1.0" encoding="utf-8"?>\n<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n${links}</XRD>\n`;
        send(res, "application/xrd+xml; charset=utf-8", xrd, cors);
      },
    });
    // XEP-0156 §3.2: the JSON (JRD, RFC 6415 Appendix A) form
    ctx.http({
      methods: ["GET", "HEAD"],
      path: "/.well-known/host-meta.json",
      handler: (req, res) => {
        const url = websocketUrl(core, hostOf(core, req));
        send(res, "application/json", JSON.stringify({ links: url ? [{ rel: REL_WEBSOCKET, href: url }] : [] }) + "\n", cors);
      },
    });

    // The privacy policy: rebuilt on every request from the live registry and configuration.
    ctx.http({
      methods: ["GET", "HEAD"],
      path: PRIVACY_PATH,
      handler: (req, res) => {
        const html = privacyHtml(buildInventory(core.storeRegistry(), core.config), hostOf(core, req));
        send(res, "text/html; charset=utf-8", html, {
          // Inline CSS only, nothing else: no scripts, no external resources, no framing.
          "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        });
      },
    });

    // XEP-0128: the policy's URL in the domain's disco#info
    const disco = ctx.use<DiscoService>("disco");
    disco?.addHostForm((host) => {
      const base = core.httpBaseUrl(host);
      if (!base) return undefined;
      return x(
        "x",
        { xmlns: NS.DATA, type: "result" },
        x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", null, PRIVACY_FORM_TYPE)),
        x("field", { var: PRIVACY_FIELD, type: "list-multi" }, x("value", null, base + PRIVACY_PATH)),
      );
    });
  },
});
