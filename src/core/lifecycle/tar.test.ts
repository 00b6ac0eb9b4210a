// The ustar writer and reader: round trip, long paths, padding, refusals, and interoperability
// with the system's tar when one is installed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { readTar, tarHeader, tarStream, type TarEntry } from "./tar.js";

async function collect(entries: TarEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of tarStream(entries)) parts.push(b);
  return Buffer.concat(parts);
}

const longPath = `files/upload/${"d".repeat(90)}/${"f".repeat(90)}.txt`;

describe("ustar", () => {
  it("writes 512-byte blocks and reads back every file", async () => {
    const big = Buffer.alloc(1500, 7);
    const tar = await collect([
      { name: "a@b.xml", size: 5, mtime: 1_700_000_000_000, data: Buffer.from("<x/>\n") },
      { name: longPath, size: big.length, mtime: 0, data: () => Readable.from([big.subarray(0, 1000), big.subarray(1000)]) },
      { name: "empty", size: 0, mtime: 0, data: Buffer.alloc(0) },
    ]);
    assert.equal(tar.length % 512, 0);
    const files = readTar(tar);
    assert.deepEqual([...files.keys()], ["a@b.xml", longPath, "empty"]);
    assert.equal(files.get("a@b.xml")!.toString(), "<x/>\n");
    assert.deepEqual(files.get(longPath), big);
    assert.equal(files.get("empty")!.length, 0);
  });

  it("refuses unsafe paths and sizes that do not match", async () => {
    for (const name of ["/etc/passwd", "a/../b", "./a", ""]) assert.throws(() => tarHeader({ name, size: 0, mtime: 0 }), RangeError, name);
    assert.throws(() => tarHeader({ name: "x".repeat(300), size: 0, mtime: 0 }), RangeError);
    await assert.rejects(collect([{ name: "a", size: 3, mtime: 0, data: Buffer.from("ab") }]), RangeError);
    await assert.rejects(collect([{ name: "a", size: 1, mtime: 0, data: () => Readable.from([Buffer.from("ab")]) }]), RangeError);
  });

  it("detects corrupt and truncated archives", async () => {
    const tar = await collect([{ name: "a", size: 600, mtime: 0, data: Buffer.alloc(600, 1) }]);
    const bad = Buffer.from(tar);
    bad[0] = 0x41;
    assert.throws(() => readTar(bad), /checksum/);
    assert.throws(() => readTar(tar.subarray(0, 700)), /truncated/);
  });

  it("is readable by the system's tar, and reads what it writes", async (t) => {
    try {
      execFileSync("tar", ["--version"], { stdio: "ignore" });
    } catch {
      t.skip("no tar on this machine");
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), "warbler-tar-"));
    try {
      const tar = await collect([
        { name: "u@h.xml", size: 3, mtime: 1_700_000_000_000, data: Buffer.from("abc") },
        { name: longPath, size: 4, mtime: 0, data: Buffer.from("long") },
      ]);
      await writeFile(join(dir, "x.tar"), tar);
      assert.deepEqual(execFileSync("tar", ["-tf", join(dir, "x.tar")], { encoding: "utf8" }).trim().split("\n"), ["u@h.xml", longPath]);
      execFileSync("tar", ["-xf", join(dir, "x.tar"), "-C", dir]);
      assert.equal(await readFile(join(dir, longPath), "utf8"), "long");
      // and the other way round
      await writeFile(join(dir, "plain.txt"), "from tar");
      execFileSync("tar", ["--format=ustar", "-cf", join(dir, "y.tar"), "-C", dir, "plain.txt"]);
      assert.equal(readTar(await readFile(join(dir, "y.tar"))).get("plain.txt")!.toString(), "from tar");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
