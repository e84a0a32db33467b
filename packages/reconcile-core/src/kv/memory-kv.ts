import { compileSubjectPattern, type SubjectMatcher } from "../bus/subject.js";
import { Channel } from "../util/channel.js";
import {
  assertValidKey,
  assertValidPattern,
  KvConflictError,
  type KvEntry,
  type KvStore,
  type KvWatch,
} from "./kv-store.js";

interface Watcher {
  matches: SubjectMatcher;
  channel: Channel<KvEntry>;
}

/** The in-process KV store: the embedded default and the reference for the contract tests. */
export class MemoryKvStore implements KvStore {
  readonly #entries = new Map<string, KvEntry>();
  readonly #watchers = new Set<Watcher>();
  #revision = 0;

  async get(key: string): Promise<KvEntry | undefined> {
    assertValidKey(key);
    const entry = this.#entries.get(key);
    return entry && entry.operation === "PUT" ? entry : undefined;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    assertValidKey(key);
    return this.#write(key, value, "PUT");
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    assertValidKey(key);
    if (this.#entries.get(key)?.operation === "PUT")
      throw new KvConflictError(key, "absent", "key exists");
    return this.#write(key, value, "PUT");
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    assertValidKey(key);
    if (revision === 0) return this.create(key, value);
    const current = this.#entries.get(key)?.revision ?? 0;
    if (current !== revision)
      throw new KvConflictError(key, revision, `current revision is ${current}`);
    return this.#write(key, value, "PUT");
  }

  async delete(key: string, options: { previousRevision?: number } = {}): Promise<void> {
    assertValidKey(key);
    const current = this.#entries.get(key);
    if (
      options.previousRevision !== undefined &&
      (current?.revision ?? 0) !== options.previousRevision
    ) {
      throw new KvConflictError(
        key,
        options.previousRevision,
        `current revision is ${current?.revision ?? 0}`,
      );
    }
    if (current?.operation !== "PUT") return;
    this.#write(key, new Uint8Array(), "DEL");
  }

  async keys(pattern = ">"): Promise<string[]> {
    assertValidPattern(pattern);
    const matches = compileSubjectPattern(pattern);
    return [...this.#entries.values()]
      .filter((e) => e.operation === "PUT" && matches(e.key))
      .map((e) => e.key);
  }

  async watch(pattern: string): Promise<KvWatch> {
    assertValidPattern(pattern);
    const watcher: Watcher = { matches: compileSubjectPattern(pattern), channel: new Channel() };
    const current = [...this.#entries.values()]
      .filter((e) => e.operation === "PUT" && watcher.matches(e.key))
      .sort((a, b) => a.revision - b.revision);
    for (const entry of current) watcher.channel.push(entry);
    this.#watchers.add(watcher);
    return {
      stop: () => {
        this.#watchers.delete(watcher);
        watcher.channel.close();
      },
      [Symbol.asyncIterator]: () => watcher.channel[Symbol.asyncIterator](),
    };
  }

  async close(): Promise<void> {
    for (const w of this.#watchers) w.channel.close();
    this.#watchers.clear();
  }

  #write(key: string, value: Uint8Array, operation: KvEntry["operation"]): number {
    const entry: KvEntry = {
      key,
      value: value.slice(),
      revision: ++this.#revision,
      operation,
      created: new Date(),
    };
    this.#entries.set(key, entry);
    for (const w of this.#watchers) if (w.matches(key)) w.channel.push(entry);
    return entry.revision;
  }
}
