import type { Logger } from "../logging/logger.js";
import { silentLogger } from "../logging/logger.js";
import type { CloudEvent } from "./cloudevent.js";
import { DeliveryQueue } from "./delivery-queue.js";
import type { EventBus, EventHandler, SubscribeOptions, Subscription } from "./event-bus.js";
import { compileSubjectPattern, type SubjectMatcher } from "./subject.js";

export const DEFAULT_SUBSCRIBER_QUEUE_LIMIT = 10_000;

/**
 * The in-process event bus. A slow subscriber only ever holds `queueLimit` events (default
 * 10,000); beyond that its oldest events are dropped and counted in `dropped`, so neither the
 * publisher nor the other subscribers wait, and memory stays bounded.
 */
export class MemoryEventBus implements EventBus {
  readonly #subscriptions = new Map<DeliveryQueue, SubjectMatcher>();
  readonly #log: Logger;

  constructor(options: { log?: Logger } = {}) {
    this.#log = options.log ?? silentLogger;
  }

  publish(subject: string, event: CloudEvent): void {
    for (const [queue, matches] of this.#subscriptions)
      if (matches(subject)) queue.push(event, subject);
  }

  subscribe(pattern: string, handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    const matches = compileSubjectPattern(pattern);
    const queue: DeliveryQueue = new DeliveryQueue(
      handler,
      options.queueLimit ?? DEFAULT_SUBSCRIBER_QUEUE_LIMIT,
      this.#log,
      () => this.#subscriptions.delete(queue),
    );
    this.#subscriptions.set(queue, matches);
    return queue;
  }

  async close(): Promise<void> {
    for (const queue of [...this.#subscriptions.keys()]) queue.unsubscribe();
  }
}
