import type { Logger } from "../logging/logger.js";
import { BoundedQueue } from "../util/bounded-queue.js";
import type { CloudEvent } from "./cloudevent.js";
import type { EventHandler, Subscription } from "./event-bus.js";

/**
 * One subscriber's inbox: events wait here while its handler is busy, at most `limit` of them;
 * beyond that the oldest are dropped and counted. The handler runs one event at a time, in
 * order, started on a later tick, so the publisher never waits. Transports share it.
 */
export class DeliveryQueue implements Subscription {
  readonly #queue: BoundedQueue<[CloudEvent, string]>;
  readonly #handler: EventHandler;
  readonly #log: Logger;
  readonly #onClose: () => void;
  #draining = false;
  #closed = false;

  constructor(handler: EventHandler, limit: number, log: Logger, onClose: () => void = () => {}) {
    this.#queue = new BoundedQueue(limit);
    this.#handler = handler;
    this.#log = log;
    this.#onClose = onClose;
  }

  push(event: CloudEvent, subject: string): void {
    if (this.#closed) return;
    this.#queue.push([event, subject]);
    if (!this.#draining) {
      this.#draining = true;
      setImmediate(() => void this.#drain());
    }
  }

  get dropped(): number {
    return this.#queue.dropped;
  }

  get pending(): number {
    return this.#queue.length;
  }

  unsubscribe(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.clear();
    this.#onClose();
  }

  async #drain(): Promise<void> {
    try {
      for (let next = this.#queue.shift(); next && !this.#closed; next = this.#queue.shift()) {
        try {
          await this.#handler(next[0], next[1]);
        } catch (err) {
          this.#log.warn({ err, subject: next[1], type: next[0].type }, "event handler failed");
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
