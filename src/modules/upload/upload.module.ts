// HTTP File Upload (XEP-0363 urn:xmpp:http:upload:0): a service domain per host (upload.<host>)
// grants slots to local accounts (disco with XEP-0128 max-file-size, size/type/name checks,
// quotas with <retry/>), and the HTTPS routes take the PUT and serve the files (RFC 9110 ranges).
import { createReadStream } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { ServerResponse } from "node:http";
import { archive, defineModule } from "../../core/module.js";
import { StanzaError } from "../../core/errors.js";
import { NS } from "../../core/namespaces.js";
import { errorSummary } from "../../core/session.js";
import { HttpError, type HttpRequest } from "../../core/http.js";
import type { StanzaEvent } from "../../core/events.js";
import { parseJid } from "../../jid/jid.js";
import { Readable } from "node:stream";
import { x, type Element } from "../../xml/element.js";
import type { ArchiveStore } from "../../storage/types.js";
import type { DiscoService } from "../disco/disco.module.js";
import { contentTypeAllowed, mediaType, parseRange, sanitizeFilename, servedAs, type ContentTypePolicy } from "./policy.js";
import { newSlotId, SLOT_ID, SlotTable, type Slot } from "./slots.js";
import { FileStore, UploadWriteError, type FileMeta } from "./files.js";
import { NS_WARBLER_UPLOAD, uploadPath, uploadsElement, uploadsFromElements, type PortableUpload } from "./portable.js";

export const NS_UPLOAD = "urn:xmpp:http:upload:0";
/** The HTTP path prefix of upload and download URLs. */
export const UPLOAD_PATH = "/upload/";
const DAY_MS = 86_400_000;

/** What the upload_files store keeps per file (the owner is the row's owner, the id its id). */
export interface UploadRecord {
  filename: string;
  size: number;
  contentType: string;
}

/** The "upload" service: the retention sweep, callable with a given clock (tests, admin tools). */
export interface UploadService {
  /** Deletes files (and their records) older than the retention, and stray partial files; returns files removed. */
  sweep(now?: number): Promise<number>;
}

/** XEP-0082 date-time in UTC without fractions. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Headers every upload response carries: web clients on other origins may use the service (CORS). */
const CORS = { "Access-Control-Allow-Origin": "*" };

export const uploadModule = defineModule({
  name: "upload",
  specs: ["XEP-0363", "XEP-0128"],
  after: ["disco"],
  stores: (config) => ({
    upload_files: archive({
      owner: "account",
      purpose:
        "The files you shared by HTTP upload (name, size and type here, the file itself on the server's disk), so that the people you send the link to can download them. Anyone who has a link can download the file",
      retention: { kind: "duration", ms: config.upload.retentionDays * DAY_MS },
      export: true,
    }),
  }),
  async setup(ctx) {
    const cfg = ctx.config.upload;
    const store = ctx.stores.upload_files as ArchiveStore<UploadRecord>;
    const files = new FileStore(join(ctx.config.dataDir, "uploads"));
    const retentionMs = cfg.retentionDays * DAY_MS;

    // ---- export and import (registered even with uploads off: the files stay the user's) ----

    ctx.portable({
      elements: [{ name: "uploads", ns: NS_WARBLER_UPLOAD }],
      async export(account) {
        const { items } = await store.query(account.bareString);
        const listed: PortableUpload[] = [];
        const out = [];
        for (const item of items) {
          const path = files.dataPath(item.id);
          const size = (await stat(path).catch(() => undefined))?.size;
          // a record whose file is gone (or differs) has nothing to export
          if (size !== item.value.size) continue;
          const base = ctx.core.httpBaseUrl(account.domain);
          const p = uploadPath(item.id, item.value.filename);
          listed.push({ id: item.id, filename: item.value.filename, size, contentType: item.value.contentType, when: item.when, path: p, url: base === undefined ? undefined : `${base}${UPLOAD_PATH}${item.id}/${encodeURIComponent(item.value.filename)}` });
          out.push({ path: p, size, mtime: item.when, open: () => createReadStream(path) });
        }
        return listed.length > 0 ? { elements: [uploadsElement(listed)], files: out } : { elements: [] };
      },
      // each file gets a new id (and so a new URL); the upload date is kept, so retention counts from it
      async import(account, elements, opts) {
        const { files: listed, invalid } = uploadsFromElements(elements);
        const notes: string[] = [];
        if (invalid > 0) notes.push(`${invalid} invalid file entries skipped`);
        let imported = 0;
        let missing = 0;
        let expired = 0;
        let present = 0;
        const now = Date.now();
        const { items: existing } = await store.query(account.bareString);
        // not files.init(): that removes partial files, and uploads may be in progress
        await mkdir(files.dir, { recursive: true, mode: 0o700 });
        for (const f of listed) {
          if (f.when < now - retentionMs) {
            expired++;
            continue;
          }
          // idempotent: the same name, size and date is the same upload
          if (existing.some((e) => e.when === f.when && e.value.filename === f.filename && e.value.size === f.size)) {
            present++;
            continue;
          }
          const data = opts.file(f.path);
          if (!data || data.length !== f.size) {
            missing++;
            continue;
          }
          const id = newSlotId();
          const meta: FileMeta = { id, owner: account.bareString, filename: f.filename, size: f.size, contentType: f.contentType, when: f.when };
          await files.write(meta, Readable.from([data]));
          try {
            await store.append(account.bareString, { id, when: f.when, value: { filename: f.filename, size: f.size, contentType: f.contentType } });
          } catch (err) {
            await files.remove(id);
            throw err;
          }
          imported++;
        }
        if (missing > 0) notes.push(`${missing} files not in the archive (or of another size) skipped`);
        if (expired > 0) notes.push(`${expired} files older than the retention (${cfg.retentionDays} days) skipped`);
        if (present > 0) notes.push(`${present} files already present`);
        if (imported > 0) notes.push("imported files have new download addresses");
        return { imported, notes };
      },
    });

    if (!cfg.enabled) return;
    if (!ctx.config.http.enabled && !ctx.config.http.publicUrl) {
      ctx.log.warn("upload: HTTP is disabled and http.publicUrl is not set; file upload is off");
      return;
    }
    await files.init();
    const slots = new SlotTable();
    const inProgress = new Set<string>();
    const policy: ContentTypePolicy = { allow: cfg.allowedContentTypes, deny: cfg.deniedContentTypes };

    // ---- XMPP: the service domain ----

    const discoInfo = (): Element =>
      x(
        "query",
        { xmlns: NS.DISCO_INFO },
        x("identity", { category: "store", type: "file", name: "HTTP File Upload" }),
        x("feature", { var: NS.DISCO_INFO }),
        x("feature", { var: NS_UPLOAD }),
        // XEP-0363 §3 + XEP-0128: the maximum file size, in bytes
        x(
          "x",
          { xmlns: NS.DATA, type: "result" },
          x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", null, NS_UPLOAD)),
          x("field", { var: "max-file-size" }, x("value", null, String(cfg.maxFileSize))),
        ),
      );

    /** Throws resource-constraint with <retry/> when `size` more bytes would exceed a quota (XEP-0363 §5). */
    const checkQuota = async (owner: string, size: number, now: number): Promise<void> => {
      const limits: [number, number, string][] = [
        [cfg.quotaDailyBytes, DAY_MS, "in 24 hours"],
        [cfg.quotaTotalBytes, retentionMs, "stored at once"],
      ];
      if (limits.every(([limit]) => limit === 0)) return;
      const { items } = await store.query(owner);
      // granted but unused slots count as uploaded now, until they expire
      const entries = [
        ...items.filter((i) => i.when >= now - retentionMs).map((i) => ({ when: i.when, size: i.value.size })),
        ...slots.pending(owner, now).map((s) => ({ when: now, size: s.size })),
      ].sort((a, b) => a.when - b.when);
      for (const [limit, windowMs, what] of limits) {
        if (limit === 0) continue;
        const relevant = entries.filter((e) => e.when > now - windowMs);
        const used = relevant.reduce((a, e) => a + e.size, 0);
        if (used + size <= limit) continue;
        const text = `Quota reached: at most ${limit} bytes ${what}`;
        if (size > limit) throw new StanzaError("not-acceptable", text);
        // the earliest moment enough older uploads leave the window
        let freed = 0;
        let retry = now + windowMs;
        for (const e of relevant) {
          freed += e.size;
          if (used - freed + size <= limit) {
            retry = e.when + windowMs;
            break;
          }
        }
        // XEP-0363 §5: a temporary error with the time the client may retry
        throw new StanzaError("resource-constraint", text, { type: "wait", app: x("retry", { xmlns: NS_UPLOAD, stamp: stamp(retry) }) });
      }
    };

    // Metrics (no personal data in labels): uploads and downloads, and what is stored now
    const uploadsDone = ctx.core.metrics.counter("warbler_uploads", "Files uploaded completely (XEP-0363).");
    const uploadBytes = ctx.core.metrics.counter("warbler_upload_bytes", "Bytes of files uploaded completely.");
    const downloads = ctx.core.metrics.counter("warbler_upload_downloads", "File downloads (GET and HEAD), by HTTP status.", ["status"]);
    ctx.core.metrics.gauge("warbler_upload_stored_files", "Uploaded files on disk.", async () => (await files.list()).length);
    ctx.core.metrics.gauge("warbler_upload_stored_bytes", "Bytes of uploaded files on disk.", async () => (await files.list()).reduce((n, m) => n + m.size, 0));

    const requestSlot = async (ev: StanzaEvent, req: Element): Promise<Element> => {
      // XEP-0363 §5: a permanent error for those not allowed to upload (only this server's accounts)
      if (!ev.origin || !ctx.core.isLocalHost(ev.from.domain)) {
        throw new StanzaError("not-allowed", "Only accounts of this server may upload files");
      }
      const filename = sanitizeFilename(req.attrs.filename ?? "");
      if (filename === undefined) throw new StanzaError("bad-request", "Invalid file name");
      const sizeAttr = req.attrs.size ?? "";
      if (!/^\d{1,15}$/.test(sizeAttr)) throw new StanzaError("bad-request", "Invalid file size");
      const size = Number(sizeAttr);
      if (size > cfg.maxFileSize) {
        // XEP-0363 §5: file too large, with the maximum
        throw new StanzaError("not-acceptable", `File too large. The maximum file size is ${cfg.maxFileSize} bytes`, {
          app: x("file-too-large", { xmlns: NS_UPLOAD }, x("max-file-size", null, String(cfg.maxFileSize))),
        });
      }
      let contentType = "";
      const typeAttr = req.attrs["content-type"];
      if (typeAttr !== undefined && typeAttr.trim() !== "") {
        const t = mediaType(typeAttr);
        if (t === undefined) throw new StanzaError("bad-request", "Invalid content type");
        contentType = t;
      }
      if (!contentTypeAllowed(contentType || "application/octet-stream", policy)) {
        throw new StanzaError("not-acceptable", "Files of this type are not accepted");
      }
      const owner = ev.from.bareString;
      const now = Date.now();
      await checkQuota(owner, size, now);
      const base = ctx.core.httpBaseUrl(ev.from.domain);
      if (base === undefined) throw new StanzaError("service-unavailable", "HTTP is not available");
      const slot: Slot = { id: newSlotId(), owner, filename, size, contentType, expires: now + cfg.slotTtlSeconds * 1000 };
      const token = slots.add(slot);
      const url = `${base}${UPLOAD_PATH}${slot.id}/${encodeURIComponent(filename)}`;
      ctx.log.debug({ user: owner, size, id: slot.id }, "upload slot granted");
      // XEP-0363 §4: the PUT URL carries its authorization; the GET URL is the bare path
      return x(
        "slot",
        { xmlns: NS_UPLOAD },
        x("put", { url: `${url}?expires=${slot.expires}&token=${token}` }),
        x("get", { url }),
      );
    };

    const onStanza = async (ev: StanzaEvent): Promise<void> => {
      const { stanza } = ev;
      const type = stanza.attrs.type;
      if (stanza.name !== "iq") {
        // RFC 6120 §10.5: nothing here takes messages; presence is ignored
        if (stanza.name === "message" && type !== "error") throw new StanzaError("service-unavailable");
        return;
      }
      if (type !== "get" && type !== "set") return;
      if (ev.to.local !== "" || ev.to.resource !== "") throw new StanzaError("service-unavailable");
      const kids = stanza.elements();
      const payload = kids[0];
      if (!payload || kids.length !== 1) throw new StanzaError("bad-request"); // RFC 6120 §8.2.3
      let result: Element;
      if (type === "get" && payload.is("query", NS.DISCO_INFO)) {
        if (payload.attrs.node !== undefined) throw new StanzaError("item-not-found");
        result = discoInfo();
      } else if (type === "get" && payload.is("query", NS.DISCO_ITEMS)) {
        result = x("query", { xmlns: NS.DISCO_ITEMS });
      } else if (type === "get" && payload.is("request", NS_UPLOAD)) {
        result = await requestSlot(ev, payload);
      } else {
        throw new StanzaError("service-unavailable");
      }
      ctx.core.deliverTo(ev.from, x("iq", { type: "result", id: stanza.attrs.id, from: ev.to.toString(), to: ev.from.toString() }, result));
    };

    const disco = ctx.use<DiscoService>("disco");
    for (const host of ctx.config.hosts) {
      const domain = `${cfg.domainPrefix}.${host}`;
      ctx.component(domain, onStanza);
      // XEP-0363 §3: the server lists its upload service in its items
      disco?.addItem(host, { jid: domain, name: "HTTP File Upload" });
    }

    // ---- HTTP ----

    const put = async (id: string, name: string, req: HttpRequest, res: ServerResponse): Promise<void> => {
      const now = Date.now();
      const taken = slots.take(id, req.url.searchParams.get("token") ?? "", Number(req.url.searchParams.get("expires") ?? NaN), now);
      // RFC 9110 §15.5.11: 410 for a URL that was valid and expired; 403 for a bad, unknown or used one
      if (taken === "expired") throw new HttpError(410, "upload URL expired", CORS);
      if (taken === "forbidden" || taken.filename !== name) throw new HttpError(403, "upload URL not valid", CORS);
      const slot = taken;
      const lengthHeader = req.raw.headers["content-length"];
      if (lengthHeader === undefined) throw new HttpError(411, "Content-Length required", CORS);
      if (!/^\d+$/.test(lengthHeader)) throw new HttpError(400, "bad Content-Length", CORS);
      // XEP-0363 §6: the Content-Length MUST match the slot's size
      const length = Number(lengthHeader);
      if (length > slot.size) throw new HttpError(413, "larger than the slot", CORS);
      if (length < slot.size) throw new HttpError(400, "Content-Length differs from the slot's size", CORS);
      // XEP-0363 §6: a Content-Type given in the request for the slot must match
      const given = mediaType(req.raw.headers["content-type"] ?? "");
      if (slot.contentType !== "" && given !== slot.contentType) throw new HttpError(415, "Content-Type differs from the slot's", CORS);
      const contentType = slot.contentType || given || "application/octet-stream";
      if (!contentTypeAllowed(contentType, policy)) throw new HttpError(415, "type not accepted", CORS);
      const meta: FileMeta = { id, owner: slot.owner, filename: slot.filename, size: slot.size, contentType, when: now };
      inProgress.add(id);
      try {
        try {
          await files.write(meta, req.raw as AsyncIterable<Buffer>);
        } catch (err) {
          if (!(err instanceof UploadWriteError)) throw err;
          if (err.reason === "aborted") {
            res.destroy();
            return;
          }
          throw new HttpError(err.reason === "too-large" ? 413 : 400, "body length differs from the slot's size", CORS);
        }
        const owner = parseJid(slot.owner);
        if (!(await ctx.accounts.exists(owner))) {
          // the account was deleted during the upload
          await files.remove(id);
          throw new HttpError(403, "account gone", CORS);
        }
        try {
          await store.append(slot.owner, { id, when: meta.when, value: { filename: meta.filename, size: meta.size, contentType } });
        } catch (err) {
          await files.remove(id);
          throw err;
        }
      } finally {
        inProgress.delete(id);
      }
      ctx.log.debug({ user: slot.owner, id, size: slot.size }, "file uploaded");
      uploadsDone.inc();
      uploadBytes.inc({}, slot.size);
      // XEP-0363 §6: 201 means the file is ready to be served at the GET URL
      res.writeHead(201, { ...CORS, "Content-Length": "0" });
      res.end();
    };

    const get = async (id: string, name: string, req: HttpRequest, res: ServerResponse): Promise<void> => {
      const meta = await files.meta(id);
      const notFound = new HttpError(404, "not found", CORS);
      if (!meta || meta.filename !== name || meta.when < Date.now() - retentionMs) throw notFound;
      // the record is the authority: no record (account deleted, retention), no file
      const row = await store.query(meta.owner, { ids: [id], limit: 1 });
      if (row.items.length === 0) throw notFound;
      const fh = await open(files.dataPath(id), "r").catch(() => undefined);
      if (!fh) throw notFound;
      const served = servedAs(meta.contentType, meta.filename);
      const etag = `"${id}"`;
      const headers: Record<string, string> = {
        ...CORS,
        "Access-Control-Expose-Headers": "Content-Length, Content-Range, Content-Disposition",
        "Content-Type": served.contentType,
        "Content-Disposition": served.disposition,
        // nothing in an uploaded file may run or load anything in the server's origin
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Accept-Ranges": "bytes",
        ETag: etag,
        "Last-Modified": new Date(meta.when).toUTCString(),
        // not kept by shared caches: deleting the file must make it unavailable
        "Cache-Control": "private, max-age=86400",
      };
      try {
        // RFC 9110 §13.1.5: a Range with a stale If-Range is ignored
        const ifRange = req.raw.headers["if-range"];
        const range = ifRange === undefined || ifRange === etag ? parseRange(req.raw.headers.range, meta.size) : undefined;
        if (range === "unsatisfiable") {
          // RFC 9110 §15.5.17
          throw new HttpError(416, "range not satisfiable", { ...CORS, "Content-Range": `bytes */${meta.size}` });
        }
        let status = 200;
        let start = 0;
        let end = meta.size - 1;
        if (range) {
          // RFC 9110 §15.3.7: 206 with the part sent
          status = 206;
          ({ start, end } = range);
          headers["Content-Range"] = `bytes ${start}-${end}/${meta.size}`;
        }
        headers["Content-Length"] = String(end - start + 1);
        res.writeHead(status, headers);
        if (req.method === "HEAD" || meta.size === 0) {
          res.end();
          return;
        }
        await pipeline(fh.createReadStream({ start, end, autoClose: false }), res).catch(() => res.destroy());
      } finally {
        await fh.close().catch(() => {});
      }
    };

    ctx.http({
      methods: ["GET", "HEAD", "PUT", "OPTIONS"],
      path: UPLOAD_PATH,
      handler: async (req, res) => {
        const parts = req.path.slice(UPLOAD_PATH.length).split("/");
        const [id, name] = parts;
        if (parts.length !== 2 || id === undefined || !SLOT_ID.test(id) || !name) throw new HttpError(404, "not found", CORS);
        if (req.method === "OPTIONS") {
          // CORS preflight (Fetch standard): web clients PUT with a Content-Type
          res.writeHead(204, {
            ...CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, PUT, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
          });
          res.end();
          return;
        }
        if (req.method === "PUT") return put(id, name, req, res);
        res.once("finish", () => downloads.inc({ status: String(res.statusCode) }));
        return get(id, name, req, res);
      },
    });

    // ---- lifecycle ----

    const sweep = async (now = Date.now()): Promise<number> => {
      slots.prune(now);
      let removed = 0;
      for (const m of await files.list()) {
        if (inProgress.has(m.id)) continue;
        const expired = m.when < now - retentionMs;
        const orphan = !expired && (await store.query(m.owner, { ids: [m.id], limit: 1 })).items.length === 0;
        if (!expired && !orphan) continue;
        await files.remove(m.id);
        if (expired) await store.delete(m.owner, { ids: [m.id] });
        removed++;
      }
      await files.removeStray(inProgress);
      if (removed > 0) ctx.log.info({ removed }, "expired uploads deleted");
      return removed;
    };
    ctx.provide<UploadService>("upload", { sweep });
    // The core's retention sweep (start-up, then every retention.sweepMinutes) expires the
    // records; on the same clock this deletes the files. A failure is logged; the next sweep retries.
    ctx.on("retention/sweep", async ({ now }) => {
      await sweep(now).catch((err: unknown) => ctx.log.error({ err: errorSummary(err) }, "upload sweep failed"));
    });

    // Before the core purges the account's records: its files, and the slots it holds.
    ctx.on("account/deleting", async ({ jid }) => {
      const owner = jid.bareString;
      slots.dropOwner(owner);
      const { items } = await store.query(owner);
      for (const item of items) await files.remove(item.id);
    });
  },
});
