import { mkdtemp, readdir, readFile, stat } from "node:fs/promises";
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

  it("applies the mode and cleans up when the target cannot be written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "atomic-"));
    const path = join(dir, "token");
    await writeFileAtomic(path, "secret", { mode: 0o600 });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await expect(writeFileAtomic(join(dir, "missing", "x"), "y")).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual(["token"]);
  });
});
