import type { KvEntry, KvStore, KvWatch } from "@org/reconcile-core";

/**
 * A KV store that becomes available later (the NATS connection may not exist yet when the
 * agent starts offline): every call waits for the real store, so machines start at once and
 * their kv watchers begin as soon as NATS answers.
 */
export class DeferredKvStore implements KvStore {
  readonly #store: Promise<KvStore>;

  constructor(store: Promise<KvStore>) {
    this.#store = store;
    this.#store.catch(() => undefined);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    return (await this.#store).get(key);
  }
  async put(key: string, value: Uint8Array): Promise<number> {
    return (await this.#store).put(key, value);
  }
  async create(key: string, value: Uint8Array): Promise<number> {
    return (await this.#store).create(key, value);
  }
  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    return (await this.#store).update(key, value, revision);
  }
  async delete(key: string, options?: { previousRevision?: number }): Promise<void> {
    return (await this.#store).delete(key, options);
  }
  async keys(pattern?: string): Promise<string[]> {
    return (await this.#store).keys(pattern);
  }
  async watch(pattern: string): Promise<KvWatch> {
    return (await this.#store).watch(pattern);
  }
  async close(): Promise<void> {}
}
