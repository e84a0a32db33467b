import type { CloudEvent } from "./cloudevent.js";

export type EventHandler = (event: CloudEvent, subject: string) => void | Promise<void>;

export interface SubscribeOptions {
  /** Events held for this subscriber while its handler is busy; when full the oldest is dropped and counted. */
  queueLimit?: number;
}

export interface Subscription {
  unsubscribe(): void;
  /** Events dropped because this subscriber fell more than `queueLimit` behind. */
  readonly dropped: number;
  /** Events waiting for this subscriber's handler. */
  readonly pending: number;
}

/**
 * Publish CloudEvents on subjects, subscribe by NATS-style patterns. `publish` never waits for
 * subscribers: each subscriber has its own bounded queue, and its handler runs one event at a
 * time, in order.
 */
export interface EventBus {
  publish(subject: string, event: CloudEvent): void;
  subscribe(pattern: string, handler: EventHandler, options?: SubscribeOptions): Subscription;
  close(): Promise<void>;
}
