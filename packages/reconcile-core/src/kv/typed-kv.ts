import type { z } from "zod";
import { formatIssues } from "../errors.js";
import { KvError, type KvStore } from "./kv-store.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A stored value that is not valid JSON of the expected schema: reported, never applied. */
export class KvValueError extends KvError {
  override name = "KvValueError";
  constructor(
    readonly key: string,
    readonly revision: number,
    detail: string,
  ) {
    super(`value of '${key}' at revision ${revision} is invalid: ${detail}`);
  }
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes JSON bytes and validates them with `schema`; throws `KvValueError` naming what is wrong. */
export function decodeJson<T>(
  schema: z.ZodType<T>,
  key: string,
  revision: number,
  bytes: Uint8Array,
): T {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new KvValueError(key, revision, `not JSON (${(err as Error).message})`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new KvValueError(key, revision, formatIssues(result.error));
  return result.data;
}

/** JSON values of one schema over any `KvStore`, validated on the way in and out. */
export class TypedKv<T> {
  constructor(
    readonly store: KvStore,
    readonly schema: z.ZodType<T>,
  ) {}

  async get(key: string): Promise<{ value: T; revision: number } | undefined> {
    const entry = await this.store.get(key);
    if (!entry) return undefined;
    return {
      value: decodeJson(this.schema, key, entry.revision, entry.value),
      revision: entry.revision,
    };
  }

  put(key: string, value: T): Promise<number> {
    return this.store.put(key, encodeJson(this.schema.parse(value)));
  }

  /** Compare-and-set: `revision` 0 (or undefined) means "only if absent". */
  update(key: string, value: T, revision: number | undefined): Promise<number> {
    const bytes = encodeJson(this.schema.parse(value));
    return revision ? this.store.update(key, bytes, revision) : this.store.create(key, bytes);
  }
}
