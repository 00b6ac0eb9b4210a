// The export/import lifecycle without sockets: every module with an exported account store takes
// part in the export, unclaimed elements wait and are exported, a Warbler archive parses back.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../config/schema.js";
import { openCore } from "../../server.js";
import { silentLogger } from "../log.js";
import type { Core } from "../core.js";
import type { StorageBackend } from "../../storage/types.js";
import { jid } from "../../jid/jid.js";
import { exportAccount, importServerData, parseImportBytes, writeExportArchive } from "./portable.js";
import { parseDocument } from "./xep0227.js";
import { defineModule, kv } from "../module.js";
import { Readable } from "node:stream";
import { x } from "../../xml/element.js";
import { rosterModule } from "../../modules/roster/roster.module.js";
import type { RosterService } from "../../modules/roster/types.js";

/** A module with files (as uploads will have): one kv row per account naming a file's content. */
const filesModule = defineModule({
  name: "files",
  specs: [],
  stores: { notes: kv({ owner: "account", purpose: "test", retention: { kind: "lifetime" }, export: true }) },
  setup(ctx) {
    const store = ctx.stores.notes;
    ctx.portable({
      elements: [{ name: "files", ns: "urn:test:files" }],
      async export(account) {
        const text = (await store.get(account.bareString)) as string | undefined;
        if (text === undefined) return { elements: [] };
        const bytes = Buffer.from(text);
        return {
          elements: [x("files", { xmlns: "urn:test:files" }, x("file", { path: "dir/note.txt", size: String(bytes.length) }))],
          files: [{ path: "dir/note.txt", size: bytes.length, open: () => Readable.from([bytes]) }],
        };
      },
      async import(account, elements, opts) {
        let imported = 0;
        for (const f of elements[0]?.getChildren("file") ?? []) {
          const data = opts.file(f.attrs.path ?? "");
          if (data) {
            await store.set(account.bareString, data.toString());
            imported++;
          }
        }
        return { imported };
      },
    });
  },
});

describe("account export and import lifecycle", () => {
  let core: Core;
  let storage: StorageBackend;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "warbler-portable-"));
    const config = parseConfig({ hosts: ["example.com"], dataDir: dir, storage: { backend: "memory" }, auth: { scramIterations: 4096 } });
    ({ core, storage } = await openCore(config, { log: silentLogger() }));
  });
  after(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("has a portable handler for every module that declares an exported account store", () => {
    const withHandler = new Set(core.portables().map((p) => p.module));
    const needed = new Set(
      core
        .storeRegistry()
        .filter((s) => s.module !== "core" && s.declaration.owner === "account" && s.declaration.export)
        .map((s) => s.module),
    );
    for (const m of needed) assert.ok(withHandler.has(m), `module ${m} exports account data but registers no ctx.portable handler`);
  });

  it("leaves group chat rooms out of account exports: their stores belong to rooms, not accounts", () => {
    const muc = core.storeRegistry().filter((s) => s.module === "muc");
    assert.ok(muc.length > 0);
    for (const s of muc) assert.equal(s.declaration.owner, "room", s.name);
    assert.ok(!core.portables().some((p) => p.module === "muc"));
  });

  it("keeps unclaimed elements, exports them, and never exports keys unless asked", async () => {
    const doc = parseDocument(
      `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.com'><user name='zoe' password='zoe-pass'><prefs xmlns='urn:example:unclaimed'><colour>green</colour></prefs><query xmlns='jabber:iq:roster'><item jid='amy@example.com' subscription='both'/></query></user></host></server-data>`,
    );
    const report = await importServerData(core, doc);
    assert.deepEqual(report.accounts[0]!.pending, ["{urn:example:unclaimed}prefs"]);
    assert.equal(report.accounts[0]!.modules.roster?.imported, 1);
    const zoe = jid("zoe", "example.com");
    const user = (await exportAccount(core, zoe, { purpose: "user", credentials: false })).document.getChild("host")!.getChild("user")!;
    assert.equal(user.getChild("prefs", "urn:example:unclaimed")?.getChildText("colour"), "green");
    assert.equal(user.getChild("scram-credentials"), undefined);
    const withKeys = (await exportAccount(core, zoe, { purpose: "migration", credentials: true })).document.getChild("host")!.getChild("user")!;
    assert.equal(withKeys.getChildren("scram-credentials").length, 2);
    assert.ok(!withKeys.toString().includes("zoe-pass"));
  });

  it("writes an archive that parses back to the same document", async () => {
    const zoe = jid("zoe", "example.com");
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    await writeExportArchive(core, zoe, { purpose: "user", credentials: false }, sink);
    const { root, files } = parseImportBytes(Buffer.concat(chunks));
    assert.equal(files.size, 0);
    const expected = (await exportAccount(core, zoe, { purpose: "user", credentials: false })).document;
    assert.equal(root.toString(), expected.toString());
  });
});

describe("files in the export archive", () => {
  it("carry a module's files out and back in through ImportOptions.file", async () => {
    const dirs: string[] = [];
    const open = async () => {
      const d = await mkdtemp(join(tmpdir(), "warbler-files-"));
      dirs.push(d);
      const config = parseConfig({ hosts: ["example.com"], dataDir: d, storage: { backend: "memory" }, auth: { scramIterations: 4096 } });
      return openCore(config, { log: silentLogger(), modules: [filesModule] });
    };
    const a = await open();
    const b = await open();
    try {
      const amy = jid("amy", "example.com");
      await a.core.accounts.create(amy, "amy-password");
      await a.storage.kv("notes").set(amy.bareString, "hello file");
      const chunks: Buffer[] = [];
      await writeExportArchive(a.core, amy, { purpose: "migration", credentials: true }, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
      const { root, files } = parseImportBytes(Buffer.concat(chunks));
      assert.deepEqual([...files.keys()], ["files/files/dir/note.txt"]);
      const report = await importServerData(b.core, root, { files });
      assert.equal(report.accounts[0]!.modules.files?.imported, 1);
      assert.equal(await b.storage.kv("notes").get(amy.bareString), "hello file");
      assert.ok(await b.core.accounts.verify(amy, "amy-password"));
    } finally {
      await a.storage.close();
      await b.storage.close();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    }
  });
});

describe("pending imported data", () => {
  it("is handed to a module that claims it once the server starts with that module", async () => {
    const d = await mkdtemp(join(tmpdir(), "warbler-pending-"));
    const config = parseConfig({ hosts: ["example.com"], dataDir: d, storage: { backend: "memory" }, auth: { scramIterations: 4096 } });
    const first = await openCore(config, { log: silentLogger(), modules: [] });
    try {
      const doc = parseDocument(
        `<server-data xmlns='urn:xmpp:pie:0'><host jid='example.com'><user name='ivy' password='ivy-pass'><query xmlns='jabber:iq:roster'><item jid='joe@example.com' name='Joe' subscription='to'/></query></user></host></server-data>`,
      );
      const r = await importServerData(first.core, doc);
      assert.deepEqual(r.accounts[0]!.pending, ["{jabber:iq:roster}query"]);
      // the same storage, now with the roster module
      const second = await openCore(config, { log: silentLogger(), storage: first.storage, modules: [rosterModule] });
      await second.core.started();
      await second.core.stop();
      const roster = second.core.service<RosterService>("roster")!;
      assert.equal((await roster.getItem(jid("ivy", "example.com"), "joe@example.com"))?.name, "Joe");
      assert.equal(await first.storage.kv("portable_pending").get("ivy@example.com"), undefined);
    } finally {
      await first.storage.close();
      await rm(d, { recursive: true, force: true });
    }
  });
});
