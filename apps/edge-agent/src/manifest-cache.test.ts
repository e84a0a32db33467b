import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Manifest } from "@org/reconcile-core";
import { tempDir } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";
import { ManifestCache } from "./manifest-cache.js";

const manifest = (generation: number): Manifest => ({
  generation,
  resources: [{ kind: "File", id: "motd", spec: { path: "/etc/motd", content: `g${generation}` } }],
});

describe("ManifestCache", () => {
  it("holds nothing at first, then the manifest saved, leaving no temporary file behind", async () => {
    const dir = await tempDir("cache");
    const cache = new ManifestCache(join(dir, "manifest.json"));
    expect(await cache.load()).toEqual({ type: "none" });
    await cache.save(manifest(3));
    expect(await cache.load()).toEqual({ type: "cached", value: manifest(3) });
    expect(await readdir(dir)).toEqual(["manifest.json"]);
  });

  it("keeps the newest of saves made without waiting", async () => {
    const dir = await tempDir("cache");
    const cache = new ManifestCache(join(dir, "manifest.json"));
    await Promise.all([1, 2, 3, 4, 5].map((g) => cache.save(manifest(g))));
    expect(await cache.load()).toEqual({ type: "cached", value: manifest(5) });
    expect(await readdir(dir)).toEqual(["manifest.json"]);
  });

  it("reports a corrupt cache file as unreadable, naming it, and a save replaces it", async () => {
    const dir = await tempDir("cache");
    const path = join(dir, "manifest.json");
    await writeFile(path, '{"generation": 2, "resour');
    const cache = new ManifestCache(path);
    const loaded = await cache.load();
    expect(loaded.type).toBe("unreadable");
    if (loaded.type === "unreadable") expect(loaded.message).toContain(`${path} is not JSON`);
    await cache.save(manifest(4));
    expect(await cache.load()).toEqual({ type: "cached", value: manifest(4) });
  });
});
