/** One revision of one key. `revision` grows across the whole store (as a JetStream sequence does). */
export interface KvEntry {
  key: string;
  value: Uint8Array;
  revision: number;
  operation: "PUT" | "DEL";
  created: Date;
}

/** A live watch: the current value of each matching key first, then every change, until `stop()`. */
export interface KvWatch extends AsyncIterable<KvEntry> {
  stop(): void;
}

/**
 * A key/value store with compare-and-set, the shape of NATS JetStream KV. Keys are tokens of
 * `[-/_=.a-zA-Z0-9]` separated by dots; patterns use NATS wildcards (`*`, `>`).
 */
export interface KvStore {
  /** The current entry, or undefined when the key does not exist or was deleted. */
  get(key: string): Promise<KvEntry | undefined>;
  /** Writes unconditionally; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key does not exist (or was deleted); otherwise `KvConflictError`. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Writes only if the key's current revision is `revision` (0: only if absent, as `create`); otherwise `KvConflictError`. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Deletes the key (a tombstone watchers see as DEL); with `previousRevision`, only at that revision. */
  delete(key: string, options?: { previousRevision?: number }): Promise<void>;
  /** Existing keys matching `pattern` (default all). */
  keys(pattern?: string): Promise<string[]>;
  /** Watches keys matching `pattern` (a key or a wildcard pattern). */
  watch(pattern: string): Promise<KvWatch>;
  close(): Promise<void>;
}

export class KvError extends Error {
  override name = "KvError";
}

/** A compare-and-set lost: someone else wrote the key first. Re-read and retry. */
export class KvConflictError extends KvError {
  override name = "KvConflictError";
  constructor(
    readonly key: string,
    readonly expectedRevision: number | "absent",
    detail = "",
  ) {
    super(
      `kv conflict on '${key}': expected ${expectedRevision === "absent" ? "no value" : `revision ${expectedRevision}`}${detail ? ` (${detail})` : ""}`,
    );
  }
}

const KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;
const PATTERN_TOKEN = /^([-/_=a-zA-Z0-9]+|\*|>)$/;

/** Throws `KvError` for a key JetStream KV would refuse, naming it. */
export function assertValidKey(key: string): void {
  if (!KEY.test(key))
    throw new KvError(
      `invalid kv key '${key}': use dot-separated tokens of letters, digits and - / _ =`,
    );
}

export function assertValidPattern(pattern: string): void {
  const tokens = pattern.split(".");
  if (!tokens.every((t, i) => PATTERN_TOKEN.test(t) && (t !== ">" || i === tokens.length - 1))) {
    throw new KvError(`invalid kv key pattern '${pattern}'`);
  }
}
