/**
 * A keyed work queue in the manner of client-go's: a key is queued at most once, a key being
 * processed is never processed concurrently (adding it again marks it dirty, and it runs once
 * more afterwards), at most `concurrency` keys run at a time, and delayed adds keep the earliest
 * deadline. Requests carry only the key: the handler re-reads whatever it needs.
 */
export class WorkQueue {
  readonly #concurrency: number;
  readonly #handle: (key: string) => Promise<void>;
  #queue: string[] = [];
  #head = 0;
  readonly #queued = new Set<string>();
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(concurrency: number, handle: (key: string) => Promise<void>) {
    if (!(concurrency >= 1))
      throw new RangeError(`concurrency must be at least 1, got ${concurrency}`);
    this.#concurrency = concurrency;
    this.#handle = handle;
  }

  /** Queues `key` now; a pending delayed add for it is superseded. */
  add(key: string): void {
    if (this.#stopped) return;
    this.#cancelDelayed(key);
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /** Queues `key` after `delayMs`, unless it is already due sooner. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#delayed.set(key, { at, timer });
  }

  /** True while `key` waits for a delayed add (e.g. a backoff). */
  isDelayed(key: string): boolean {
    return this.#delayed.has(key);
  }

  /** Forgets `key`: drops a pending delayed add (a queued or running one still completes). */
  forget(key: string): void {
    this.#cancelDelayed(key);
  }

  /** Keys queued or running (not delayed). */
  get length(): number {
    return this.#queue.length - this.#head + this.#running.size;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#queue = [];
    this.#head = 0;
    this.#queued.clear();
    this.#dirty.clear();
    this.#notifyIdle();
  }

  #cancelDelayed(key: string): void {
    const delayed = this.#delayed.get(key);
    if (delayed) {
      clearTimeout(delayed.timer);
      this.#delayed.delete(key);
    }
  }

  #pump(): void {
    while (this.#running.size < this.#concurrency && this.#head < this.#queue.length) {
      const key = this.#queue[this.#head++]!;
      this.#queued.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
    // Compact the consumed prefix now and then instead of shifting on every take.
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#handle(key);
    } catch {
      // The handler owns its errors (status, backoff); the queue only keeps going.
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
      if (this.length === 0) this.#notifyIdle();
    }
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
