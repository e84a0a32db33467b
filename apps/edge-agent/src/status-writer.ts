import {
  type ManifestStatus,
  KvConflictError,
  type KvStore,
  type Logger,
} from "@org/reconcile-core";

const encoder = new TextEncoder();

/**
 * Writes the agent's status to `actual-state.<id>` with compare-and-set on the revision:
 * only when it changed, one write at a time, always the latest. A lost compare-and-set re-reads
 * the revision and tries again; an unreachable store is retried until it answers, so the
 * latest status lands when the connection comes back.
 *
 * The status is serialized once per write, with `JSON.stringify`: it is built by the typed
 * controller (its schema is checked where it is read), and a status rebuilt with its keys in
 * another order only costs one more write, never a lost one.
 */
export class StatusWriter {
  readonly #store: KvStore;
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
    this.#store = store;
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
        const text = JSON.stringify(this.#latest);
        if (text === this.#written) return;
        try {
          await this.#write(encoder.encode(text));
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

  async #write(bytes: Uint8Array): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (this.#revision === undefined)
        this.#revision = (await this.#store.get(this.#key))?.revision ?? 0;
      try {
        // Compare-and-set: revision 0 means "only if absent".
        this.#revision =
          this.#revision === 0
            ? await this.#store.create(this.#key, bytes)
            : await this.#store.update(this.#key, bytes, this.#revision);
        return;
      } catch (err) {
        if (!(err instanceof KvConflictError)) throw err;
        this.#revision = undefined; // someone else wrote: re-read and retry
      }
    }
    throw new Error(`status of ${this.#key} kept losing compare-and-set`);
  }
}
