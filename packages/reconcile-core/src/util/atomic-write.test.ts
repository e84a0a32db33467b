import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileAtomic } from "./atomic-write.js";

describe("writeFileAtomic", () => {
  it("replaces the file whole and leaves no temporary file, even under concurrent writers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "atomic-"));
    const path = join(dir, "state.json");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => writeFileAtomic(path, JSON.stringify({ i }))),
    );
    const value = JSON.parse(await readFile(path, "utf8")) as { i: number };
    expect(value.i).toBeGreaterThanOrEqual(0);
    expect(await readdir(dir)).toEqual(["state.json"]);
  });

  it("applies the exact mode whatever the umask, and the owner, and cleans up when the target cannot be written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "atomic-"));
    const path = join(dir, "token");
    await writeFileAtomic(path, "secret", { mode: 0o600 });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const previous = process.umask(0o077);
    try {
      await writeFileAtomic(join(dir, "shared"), "x", { mode: 0o664, gid: process.getgid?.() });
    } finally {
      process.umask(previous);
    }
    const shared = await stat(join(dir, "shared"));
    expect(shared.mode & 0o777).toBe(0o664);
    expect(shared.gid).toBe(process.getgid?.());
    await rm(join(dir, "shared"));
    await expect(writeFileAtomic(join(dir, "missing", "x"), "y")).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual(["token"]);
  });
});
