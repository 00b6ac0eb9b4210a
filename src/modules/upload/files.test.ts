// Atomic file writes of HTTP File Upload: complete files appear whole, failed ones leave nothing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, UploadWriteError, type FileMeta } from "./files.js";

async function* chunks(parts: Buffer[], failAfter?: number): AsyncIterable<Buffer> {
  let i = 0;
  for (const p of parts) {
    if (failAfter !== undefined && i++ === failAfter) throw new Error("ECONNRESET");
    yield p;
  }
}

function meta(size: number): FileMeta {
  return { id: "AAAAAAAAAAAAAAAAAAAAAAAA", owner: "a@example.com", filename: "f.bin", size, contentType: "application/octet-stream", when: 1 };
}

describe("FileStore", () => {
  it("writes the file and its metadata", async () => {
    const dir = await mkdtemp(join(tmpdir(), "warbler-upload-"));
    try {
      const fs = new FileStore(dir);
      await fs.init();
      await fs.write(meta(6), chunks([Buffer.from("abc"), Buffer.from("def")]));
      assert.equal(await readFile(fs.dataPath(meta(6).id), "utf8"), "abcdef");
      assert.deepEqual(await fs.meta(meta(6).id), meta(6));
      assert.deepEqual((await readdir(dir)).sort(), [meta(6).id, meta(6).id + ".json"]);
      await fs.remove(meta(6).id);
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("leaves nothing after a short, long or broken body", async () => {
    const dir = await mkdtemp(join(tmpdir(), "warbler-upload-"));
    try {
      const fs = new FileStore(dir);
      await fs.init();
      const cases: [Buffer[], number | undefined, string][] = [
        [[Buffer.from("abc")], undefined, "too-short"],
        [[Buffer.from("abcdefg")], undefined, "too-large"],
        [[Buffer.from("abc"), Buffer.from("def")], 1, "aborted"],
      ];
      for (const [parts, failAfter, reason] of cases) {
        await assert.rejects(fs.write(meta(6), chunks(parts, failAfter)), (e: unknown) => e instanceof UploadWriteError && e.reason === reason);
        assert.deepEqual(await readdir(dir), [], reason);
        assert.equal(await fs.meta(meta(6).id), undefined);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("removes leftovers of a crash at start, but not complete files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "warbler-upload-"));
    try {
      const fs = new FileStore(dir);
      await fs.init();
      await fs.write(meta(1), chunks([Buffer.from("x")]));
      await writeFile(join(dir, "BBBBBBBBBBBBBBBBBBBBBBBB.1a2b.tmp"), "partial");
      await writeFile(join(dir, "CCCCCCCCCCCCCCCCCCCCCCCC"), "renamed, no metadata");
      await new FileStore(dir).init();
      assert.deepEqual((await readdir(dir)).sort(), [meta(1).id, meta(1).id + ".json"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
