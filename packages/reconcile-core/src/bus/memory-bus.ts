import type { Logger } from "../logging/logger.js";
import { silentLogger } from "../logging/logger.js";
import { BoundedQueue } from "../util/bounded-queue.js";
import type { CloudEvent } from "./cloudevent.js";
import type { EventBus, EventHandler, SubscribeOptions, Subscription } from "./event-bus.js";
import { compileSubjectPattern, type SubjectMatcher } from "./subject.js";

export const DEFAULT_SUBSCRIBER_QUEUE_LIMIT = 10_000;

class MemorySubscription implements Subscription {
  readonly queue: BoundedQueue<[CloudEvent, string]>;
  draining = false;
  closed = false;

  constructor(
    readonly matches: SubjectMatcher,
    readonly handler: EventHandler,
    queueLimit: number,
    private readonly detach: (sub: MemorySubscription) => void,
  ) {
    this.queue = new BoundedQueue(queueLimit);
  }

  get dropped(): number {
    return this.queue.dropped;
  }

  get pending(): number {
    return this.queue.length;
  }

  unsubscribe(): void {
    this.closed = true;
    this.queue.clear();
    this.detach(this);
  }
}

/**
 * The in-process event bus. A slow subscriber only ever holds `queueLimit` events (default
 * 10,000); beyond that its oldest events are dropped and counted in `dropped`, so neither the
 * publisher nor the other subscribers wait, and memory stays bounded.
 */
export class MemoryEventBus implements EventBus {
  readonly #subscriptions = new Set<MemorySubscription>();
  readonly #log: Logger;

  constructor(options: { log?: Logger } = {}) {
    this.#log = options.log ?? silentLogger;
  }

  publish(subject: string, event: CloudEvent): void {
    for (const sub of this.#subscriptions) {
      if (!sub.matches(subject)) continue;
      sub.queue.push([event, subject]);
      if (!sub.draining) {
        sub.draining = true;
        setImmediate(() => void this.#drain(sub));
      }
    }
  }

  subscribe(pattern: string, handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    const sub = new MemorySubscription(
      compileSubjectPattern(pattern),
      handler,
      options.queueLimit ?? DEFAULT_SUBSCRIBER_QUEUE_LIMIT,
      (s) => this.#subscriptions.delete(s),
    );
    this.#subscriptions.add(sub);
    return sub;
  }

  async close(): Promise<void> {
    for (const sub of [...this.#subscriptions]) sub.unsubscribe();
  }

  async #drain(sub: MemorySubscription): Promise<void> {
    try {
      for (let next = sub.queue.shift(); next && !sub.closed; next = sub.queue.shift()) {
        try {
          await sub.handler(next[0], next[1]);
        } catch (err) {
          this.#log.warn({ err, subject: next[1], type: next[0].type }, "event handler failed");
        }
      }
    } finally {
      sub.draining = false;
    }
  }
}
