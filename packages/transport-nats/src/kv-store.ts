import { type KV, type KvEntry as NatsKvEntry, Kvm, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  KvConflictError,
  type KvEntry,
  KvError,
  type KvStore,
  type KvWatch,
} from "@org/reconcile-core";
import { assertValidKey, assertValidPattern, Channel } from "@org/reconcile-core/internal";

export interface NatsKvOptions {
  /** Values kept per key (JetStream `max_history_per_subject`). Default 5. */
  history?: number;
  /** Create the bucket when it does not exist (default true). */
  create?: boolean;
}

/** JetStream's "wrong last sequence" (10071): a compare-and-set lost. */
function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: number; message?: string };
  return (
    e?.api_error?.err_code === 10071 ||
    /wrong last sequence|key exists/i.test(String(e?.message ?? ""))
  );
}

function toEntry(e: NatsKvEntry): KvEntry {
  return {
    key: e.key,
    value: e.value,
    revision: e.revision,
    operation: e.operation === "PUT" ? "PUT" : "DEL",
    created: e.created,
  };
}

/**
 * `KvStore` on a JetStream KV bucket. Revisions are the stream's sequence numbers; updates are
 * compare-and-set through `Nats-Expected-Last-Subject-Sequence`; a watch replays the current
 * value of each key first (no tombstones), then every change, and survives reconnects.
 */
export class NatsKvStore implements KvStore {
  readonly bucket: string;
  readonly #kv: KV;

  private constructor(bucket: string, kv: KV) {
    this.bucket = bucket;
    this.#kv = kv;
  }

  static async open(
    nc: NatsConnection,
    bucket: string,
    options: NatsKvOptions = {},
  ): Promise<NatsKvStore> {
    const kvm = new Kvm(nc);
    const settings: Partial<KvOptions> = { history: options.history ?? 5 };
    const kv =
      options.create === false ? await kvm.open(bucket) : await kvm.create(bucket, settings);
    return new NatsKvStore(bucket, kv);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    assertValidKey(key);
    const entry = await this.#kv.get(key);
    return entry && entry.operation === "PUT" ? toEntry(entry) : undefined;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    assertValidKey(key);
    return this.#kv.put(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    assertValidKey(key);
    try {
      return await this.#kv.create(key, value);
    } catch (err) {
      if (isConflict(err)) throw new KvConflictError(key, "absent", "key exists");
      throw wrap(err, key);
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    assertValidKey(key);
    if (revision === 0) return this.create(key, value);
    try {
      return await this.#kv.update(key, value, revision);
    } catch (err) {
      if (isConflict(err)) throw new KvConflictError(key, revision);
      throw wrap(err, key);
    }
  }

  async delete(key: string, options: { previousRevision?: number } = {}): Promise<void> {
    assertValidKey(key);
    if (options.previousRevision === undefined) {
      const current = await this.#kv.get(key);
      if (!current || current.operation !== "PUT") return;
    }
    try {
      await this.#kv.delete(
        key,
        options.previousRevision === undefined ? {} : { previousSeq: options.previousRevision },
      );
    } catch (err) {
      if (isConflict(err)) throw new KvConflictError(key, options.previousRevision ?? 0);
      throw wrap(err, key);
    }
  }

  async keys(pattern = ">"): Promise<string[]> {
    assertValidPattern(pattern);
    const keys: string[] = [];
    for await (const key of await this.#kv.keys(pattern)) keys.push(key);
    return keys;
  }

  async watch(pattern: string): Promise<KvWatch> {
    assertValidPattern(pattern);
    const iterator = await this.#kv.watch({ key: pattern });
    const channel = new Channel<KvEntry>();
    void (async () => {
      try {
        for await (const entry of iterator) {
          // The replay of current values carries tombstones too; only live changes report deletes.
          if (!entry.isUpdate && entry.operation !== "PUT") continue;
          channel.push(toEntry(entry));
        }
        channel.close();
      } catch (err) {
        channel.close(err);
      }
    })();
    return {
      stop: () => {
        iterator.stop();
        channel.close();
      },
      [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
    };
  }

  /** The connection belongs to the caller; closing the store closes nothing. */
  async close(): Promise<void> {}
}

function wrap(err: unknown, key: string): KvError {
  return err instanceof KvError
    ? err
    : new KvError(`kv operation on '${key}' failed: ${(err as Error).message}`);
}
