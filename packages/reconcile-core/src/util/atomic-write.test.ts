import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeFileAtomic, writeFileAtomicSync } from "./atomic-write.js";

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

describe("writeFileAtomicSync", () => {
  it("replaces the file whole with the exact mode and owner, and leaves no temporary file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "atomic-sync-"));
    const path = join(dir, "manifest.json");
    for (let i = 0; i < 5; i++) writeFileAtomicSync(path, JSON.stringify({ i }));
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual({ i: 4 });
    const previous = process.umask(0o077);
    try {
      writeFileAtomicSync(join(dir, "shared"), new TextEncoder().encode("x"), {
        mode: 0o664,
        gid: process.getgid?.(),
      });
    } finally {
      process.umask(previous);
    }
    const shared = await stat(join(dir, "shared"));
    expect(shared.mode & 0o777).toBe(0o664);
    expect(shared.gid).toBe(process.getgid?.());
    expect(await readFile(join(dir, "shared"), "utf8")).toBe("x");
    expect((await readdir(dir)).sort()).toEqual(["manifest.json", "shared"]);
  });

  it("throws what the file system refused and cleans up its temporary file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "atomic-sync-"));
    expect(() => writeFileAtomicSync(join(dir, "missing", "x"), "y")).toThrow(/ENOENT/);
    await mkdir(join(dir, "target"));
    // Renaming a file over a directory fails after the temporary file was written.
    expect(() => writeFileAtomicSync(join(dir, "target"), "y")).toThrow(/EISDIR/);
    expect(await readdir(dir)).toEqual(["target"]);
    await rm(dir, { recursive: true });
  });
});
