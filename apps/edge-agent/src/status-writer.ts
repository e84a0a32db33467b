import {
  type ManifestStatus,
  ManifestStatusSchema,
  KvConflictError,
  type KvStore,
  type Logger,
  TypedKv,
} from "@org/reconcile-core";
import { canonicalJson } from "@org/reconcile-core/internal";

/**
 * Writes the agent's status to `actual-state.<id>` with compare-and-set on the revision:
 * only when it changed, one write at a time, always the latest. A lost compare-and-set re-reads
 * the revision and tries again; an unreachable store is retried until it answers, so the
 * latest status lands when the connection comes back.
 */
export class StatusWriter {
  readonly #kv: TypedKv<ManifestStatus>;
  readonly #key: string;
  readonly #log: Logger;
  #revision: number | undefined;
  #latest?: ManifestStatus;
  #written?: string;
  #running = false;
  #stopped = false;
  #wake?: () => void;
  writes = 0;

  constructor(store: KvStore, key: string, log: Logger) {
    this.#kv = new TypedKv(store, ManifestStatusSchema);
    this.#key = key;
    this.#log = log;
  }

  /** Queues `status`; it is written unless an even newer one arrives first. */
  offer(status: ManifestStatus): void {
    this.#latest = status;
    if (!this.#running) void this.#loop();
  }

  /**
   * Stops at once, even in the middle of waiting to retry. A status not written by then is not
   * kept: the next start recomputes it from the cached manifest and writes that.
   */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      let delay = 250;
      while (!this.#stopped && this.#latest) {
        const status = this.#latest;
        const text = canonicalJson(status);
        if (text === this.#written) return;
        try {
          await this.#write(status);
          this.#written = text;
          this.writes++;
          delay = 250;
        } catch (err) {
          this.#log.debug({ error: (err as Error).message }, "status write failed; retrying");
          await this.#sleep(delay);
          delay = Math.min(delay * 2, 5_000);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #write(status: ManifestStatus): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.#revision === undefined)
        this.#revision = (await this.#kv.store.get(this.#key))?.revision ?? 0;
      try {
        this.#revision = await this.#kv.update(this.#key, status, this.#revision);
        return;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
        this.#revision = undefined; // someone else wrote: re-read and retry
      }
    }
    throw new Error(`status of ${this.#key} kept losing compare-and-set`);
  }
}
