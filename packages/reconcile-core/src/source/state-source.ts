/** Why a state source could not deliver desired state. The last good state stays in force. */
export interface StateSourceError {
  /** `deleted`: the origin no longer holds desired state (a deleted KV key). */
  code: "read" | "parse" | "invalid" | "unavailable" | "rejected" | "deleted";
  message: string;
  /** Where the state came from: a file path, a KV key, a URL. */
  origin: string;
}

export type StateUpdate<T> =
  | {
      type: "desired";
      value: T;
      origin: string /** Content hash, ETag or revision. */;
      version: string;
    }
  | { type: "error"; error: StateSourceError };

/**
 * Where desired state comes from: a local file, a KV watch, an HTTP poll. A source delivers
 * the current desired state first (when there is one), then each change; a broken update is
 * reported as an error and never replaces the last good state.
 */
export interface StateSource<T> {
  start(listener: (update: StateUpdate<T>) => void): Promise<void>;
  stop(): Promise<void>;
  /** The last good desired state delivered, if any. */
  readonly current: T | undefined;
}

export type ParseResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: "parse" | "invalid"; message: string } };
