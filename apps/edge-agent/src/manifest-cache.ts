import { readFile } from "node:fs/promises";
import type { Manifest } from "@org/reconcile-core";
import { writeFileAtomic } from "@org/reconcile-core/internal";

/** What the cache holds: nothing yet, a manifest to check again before use, or a file that cannot be read. */
export type CachedManifest =
  | { type: "none" }
  | { type: "cached"; value: unknown }
  | { type: "unreadable"; message: string };

/**
 * The last accepted manifest on disk, so the agent converges at boot before (or without) its
 * source. A loaded value is untrusted input: the agent checks shape and signature again.
 * Saves are atomic and applied in call order, so the newest accepted manifest is the one kept.
 */
export class ManifestCache {
  readonly path: string;
  #saving: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<CachedManifest> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { type: "none" };
      return { type: "unreadable", message: `cannot read ${this.path}: ${(err as Error).message}` };
    }
    try {
      return { type: "cached", value: JSON.parse(text) };
    } catch (err) {
      return {
        type: "unreadable",
        message: `${this.path} is not JSON (${(err as Error).message}); it is replaced by the next manifest accepted`,
      };
    }
  }

  save(manifest: Manifest): Promise<void> {
    const text = JSON.stringify(manifest);
    const saved = this.#saving.then(() => writeFileAtomic(this.path, text));
    this.#saving = saved.catch(() => undefined);
    return saved;
  }
}
