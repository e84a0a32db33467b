import { type BackoffPolicy, backoffDelay } from "../controller/backoff.js";
import type { KvEntry, KvStore, KvWatch } from "../kv/kv-store.js";
import { type Manifest, parseManifestText } from "../resource/manifest.js";
import type { ParseResult, StateSource, StateSourceError, StateUpdate } from "./state-source.js";

export interface KvStateSourceOptions<T> {
  store: KvStore;
  /** The one key holding the desired state, e.g. `desired-state.<agent>`. */
  key: string;
  /** Decodes and validates the value's text. Default: a YAML or JSON manifest. */
  parse?: (text: string) => ParseResult<T>;
  /** Delay before watching again after a watch failed or ended. Default 0.5 s doubling to 30 s, half of it jitter. */
  backoff?: BackoffPolicy;
  random?: () => number;
}

/** Re-watches from a whole fleet at once would arrive together without the jitter. */
export const defaultKvSourceBackoff: BackoffPolicy = { baseMs: 500, capMs: 30_000, jitter: 0.5 };

/** A watch that lived this long was healthy: the next failure starts the backoff afresh. */
const STABLE_WATCH_MS = 10_000;

const parseManifestValue = (text: string): ParseResult<Manifest> => {
  const result = parseManifestText(text);
  return result.ok ? { ok: true, value: result.manifest } : result;
};

/**
 * Desired state from one key of any `KvStore` (NATS JetStream KV, memory): the current value
 * first, then each change. A deleted key, an unparsable value or a failed watch is reported
 * as an error and the last good state stays in force; a failed or ended watch is opened again
 * after a jittered, growing delay. Desired updates carry `origin` `<key>@<revision>` and the
 * revision as `version`; a revision already delivered (a re-watch replays it) is not delivered again.
 */
export class KvStateSource<T = Manifest> implements StateSource<T> {
  readonly key: string;
  readonly #store: KvStore;
  readonly #parse: (text: string) => ParseResult<T>;
  readonly #backoff: BackoffPolicy;
  readonly #random: () => number;
  #listener?: (update: StateUpdate<T>) => void;
  #current?: T;
  #revision = 0;
  #lastError?: string;
  #stopped = false;
  #watch?: KvWatch;
  #wake?: () => void;
  #loop?: Promise<void>;

  constructor(options: KvStateSourceOptions<T>) {
    this.key = options.key;
    this.#store = options.store;
    this.#parse =
      options.parse ?? (parseManifestValue as unknown as (text: string) => ParseResult<T>);
    this.#backoff = options.backoff ?? defaultKvSourceBackoff;
    this.#random = options.random ?? Math.random;
  }

  get current(): T | undefined {
    return this.#current;
  }

  /** Starts watching and returns at once: a store that is not reachable yet must not hold its caller. */
  async start(listener: (update: StateUpdate<T>) => void): Promise<void> {
    if (this.#loop) throw new Error(`kv state source for ${this.key} is already started`);
    this.#listener = listener;
    this.#loop = this.#run();
  }

  /** Stops now, even while the store has not answered a watch yet. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#listener = undefined;
    this.#watch?.stop();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      const openedAt = Date.now();
      let delivered = false;
      let problem: string;
      try {
        const watch = await this.#open();
        if (!watch) return;
        for await (const entry of watch) {
          delivered = true;
          this.#receive(entry);
        }
        problem = "the watch ended";
      } catch (err) {
        problem = `the watch failed: ${(err as Error).message}`;
      } finally {
        this.#watch = undefined;
      }
      if (this.#stopped) return;
      failures = delivered || Date.now() - openedAt >= STABLE_WATCH_MS ? 1 : failures + 1;
      const delay = backoffDelay(this.#backoff, failures, this.#random);
      this.#error({
        code: "unavailable",
        message: `kv key ${this.key}: ${problem}; watching again after a growing delay (the last good state stays in force)`,
        origin: this.key,
      });
      await this.#sleep(delay);
    }
  }

  /** The watch, or undefined when stopped first; a watch that arrives after `stop()` is stopped at once. */
  async #open(): Promise<KvWatch | undefined> {
    const opening = this.#store.watch(this.key);
    const stopped = new Promise<undefined>((resolve) => {
      this.#wake = () => resolve(undefined);
    });
    const watch = await Promise.race([opening, stopped]);
    if (!watch || this.#stopped) {
      void opening.then((w) => w.stop()).catch(() => undefined);
      return undefined;
    }
    this.#watch = watch;
    return watch;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #receive(entry: KvEntry): void {
    if (entry.operation !== "PUT") {
      this.#error({
        code: "deleted",
        message: `kv key ${this.key} was deleted at revision ${entry.revision}; the last good state stays in force until a new one is written`,
        origin: this.key,
      });
      return;
    }
    if (entry.revision <= this.#revision) return;
    const origin = `${this.key}@${entry.revision}`;
    const parsed = this.#parse(new TextDecoder().decode(entry.value));
    if (!parsed.ok) {
      this.#error({ ...parsed.error, message: `${origin}: ${parsed.error.message}`, origin });
      return;
    }
    this.#revision = entry.revision;
    this.#lastError = undefined;
    this.#current = parsed.value;
    this.#listener?.({
      type: "desired",
      value: parsed.value,
      origin,
      version: String(entry.revision),
    });
  }

  #error(error: StateSourceError): void {
    // An outage repeats the same failure on every re-watch: report it once.
    if (this.#lastError === error.message) return;
    this.#lastError = error.message;
    this.#listener?.({ type: "error", error });
  }
}
