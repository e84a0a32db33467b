import { readFile } from "node:fs/promises";
import type { Manifest } from "@org/reconcile-core";
import { writeFileAtomicSync } from "@org/reconcile-core/internal";

/** What the cache holds: nothing yet, a manifest to check again before use, or a file that cannot be read. */
export type CachedManifest =
  | { type: "none" }
  | { type: "cached"; value: unknown }
  | { type: "unreadable"; message: string };

/**
 * The last accepted manifest on disk, so the agent converges at boot before (or without) its
 * source. A loaded value is untrusted input: the agent checks shape and signature again.
 * Saves are atomic and synchronous, so they land in call order and the newest accepted
 * manifest is the one kept. Synchronous because it is one small file per accepted generation:
 * the promise API's open, write, close and rename through libuv's thread pool cost an agent of
 * a 1,000-agent fleet several times the CPU of the same calls made directly.
 */
export class ManifestCache {
  readonly path: string;

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

  /** Replaces the cached manifest; throws what the file system refused. */
  save(manifest: Manifest): void {
    writeFileAtomicSync(this.path, JSON.stringify(manifest));
  }
}
