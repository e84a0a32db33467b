import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../util/atomic-write.js";

/** The file a machine's data lives in, inside the machine's directory (a dot file: not part of its content hash). */
export const MACHINE_DATA_FILE = ".machine-data.json";

const DataSchema = z.record(z.string(), z.unknown());

/**
 * A machine's key/value data: watchers read and write it, templates and expressions see it,
 * and it survives restarts. Every change is persisted atomically (temporary file + rename), in
 * order; `flush()` waits for the last write.
 */
export class MachineData {
  readonly path: string;
  #values: Record<string, unknown>;
  #writes: Promise<void> = Promise.resolve();
  #dirty = false;

  constructor(directory: string) {
    this.path = join(directory, MACHINE_DATA_FILE);
    this.#values = MachineData.#read(this.path);
  }

  static #read(path: string): Record<string, unknown> {
    try {
      const parsed = DataSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
      return parsed.success ? parsed.data : {};
    } catch {
      return {};
    }
  }

  get(key: string): unknown {
    return this.#values[key];
  }

  /** A copy of all data. */
  all(): Record<string, unknown> {
    return structuredClone(this.#values);
  }

  set(key: string, value: unknown): void {
    this.#values[key] = value;
    this.#persist();
  }

  merge(values: Record<string, unknown>): void {
    Object.assign(this.#values, values);
    this.#persist();
  }

  delete(key: string): void {
    if (!(key in this.#values)) return;
    delete this.#values[key];
    this.#persist();
  }

  /** Resolves once every change so far is on disk. */
  flush(): Promise<void> {
    return this.#writes;
  }

  #persist(): void {
    // Coalesce: a burst of changes becomes one write of the latest values.
    if (this.#dirty) return;
    this.#dirty = true;
    this.#writes = this.#writes.then(async () => {
      this.#dirty = false;
      await writeFileAtomic(this.path, JSON.stringify(this.#values));
    });
  }
}
