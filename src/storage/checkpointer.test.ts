import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSqliteBackend } from "./sqlite.js";

describe("WAL checkpoints in a worker", () => {
  it("folds committed pages into the database file without the writer checkpointing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warbler-ckpt-"));
    const path = join(dir, "db.sqlite");
    let error: string | undefined;
    const st = await createSqliteBackend({ path, onCheckpointError: (m) => (error = m) });
    try {
      const before = statSync(path).size;
      const m = st.map("m");
      await m.setMany("a@localhost", Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, { n: i, pad: "x".repeat(200) }])));
      // the writer never checkpoints (wal_autocheckpoint = 0): the main file grows only by the worker
      let after = statSync(path).size;
      for (let i = 0; i < 40 && after <= before; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = statSync(path).size;
      }
      assert.ok(after > before + 200_000, `database file grew from ${before} to ${after}`);
      assert.equal(error, undefined);
      assert.equal((await m.getAll("a@localhost")).size, 2000);
    } finally {
      await st.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
