import {
  type CloudEvent,
  type EventBus,
  type EventHandler,
  type Logger,
  parseCloudEvent,
  type SubscribeOptions,
  type Subscription,
  silentLogger,
} from "@org/reconcile-core";
import {
  BoundedQueue,
  DEFAULT_SUBSCRIBER_QUEUE_LIMIT,
  DeliveryQueue,
} from "@org/reconcile-core/internal";
import type { NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";

const encoder = new TextEncoder();

/** Events held while NATS is unreachable; beyond this the oldest are dropped and counted. */
export const DEFAULT_OFFLINE_BUFFER = 10_000;

export interface NatsEventBusOptions {
  /** Events buffered while disconnected (default 10,000); older ones are dropped beyond that. */
  offlineBuffer?: number;
  log?: Logger;
}

/**
 * The event bus on NATS subjects: a CloudEvent is published as JSON on its subject. Events
 * leave at the end of the current turn of the event loop, so a burst (a manifest's status
 * events) costs one socket write, not one each. While the connection is down (or not made
 * yet) events wait in a bounded buffer and are sent in order on reconnect; beyond the bound
 * the oldest are dropped and counted in `droppedOffline`.
 * Received messages that are not valid CloudEvents are counted in `invalidReceived` and
 * skipped, never delivered.
 */
export class NatsEventBus implements EventBus {
  readonly #buffer: BoundedQueue<[string, Uint8Array]>;
  readonly #log: Logger;
  readonly #subscriptions = new Set<{
    pattern: string;
    queue: DeliveryQueue;
    sub?: NatsSubscription;
  }>();
  #nc?: NatsConnection;
  #connected = false;
  #invalid = 0;
  #closed = false;
  #flushScheduled = false;

  constructor(options: NatsEventBusOptions = {}) {
    this.#buffer = new BoundedQueue(options.offlineBuffer ?? DEFAULT_OFFLINE_BUFFER);
    this.#log = options.log ?? silentLogger;
  }

  /** Uses `nc` from now on: flushes what was buffered and tracks disconnects to buffer again. */
  attach(nc: NatsConnection): this {
    this.#nc = nc;
    this.#connected = !nc.isClosed();
    for (const s of this.#subscriptions) this.#listen(s);
    this.#flush();
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          this.#connected = false;
          this.#log.warn(
            { server: status.server, offlineBuffer: this.#buffer.capacity },
            "NATS disconnected: events are buffered until it is back",
          );
        }
        if (status.type === "reconnect") {
          this.#connected = true;
          this.#log.info(
            { buffered: this.#buffer.length },
            "NATS reconnected: sending buffered events",
          );
          this.#flush();
        }
      }
    })();
    return this;
  }

  /** Whether events go straight to NATS now (false while disconnected or before `attach`). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Events dropped because the offline buffer was full. */
  get droppedOffline(): number {
    return this.#buffer.dropped;
  }

  /** Events not handed to NATS yet: waiting for a connection (or for the end of this turn). */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Received messages refused as CloudEvents. */
  get invalidReceived(): number {
    return this.#invalid;
  }

  publish(subject: string, event: CloudEvent): void {
    this.#buffer.push([subject, encoder.encode(JSON.stringify(event))]);
    if (this.#nc && this.#connected && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  subscribe(pattern: string, handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    const entry: { pattern: string; queue: DeliveryQueue; sub?: NatsSubscription } = {
      pattern,
      queue: undefined as unknown as DeliveryQueue,
    };
    entry.queue = new DeliveryQueue(
      handler,
      options.queueLimit ?? DEFAULT_SUBSCRIBER_QUEUE_LIMIT,
      this.#log,
      () => {
        entry.sub?.unsubscribe();
        this.#subscriptions.delete(entry);
      },
    );
    this.#subscriptions.add(entry);
    if (this.#nc) this.#listen(entry);
    return entry.queue;
  }

  /**
   * Unsubscribes, and while connected waits up to `flushTimeoutMs` for the server to have what
   * was published. It never waits for a server that is away: events still buffered then are
   * dropped (they live in memory only).
   */
  async close(flushTimeoutMs = 1_000): Promise<void> {
    this.#flush(); // what this turn published
    this.#closed = true;
    for (const s of [...this.#subscriptions]) s.queue.unsubscribe();
    const nc = this.#nc;
    // A flush while disconnected is answered only after a reconnect, i.e. maybe never.
    if (!nc || nc.isClosed() || !this.#connected) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      nc.flush().catch(() => undefined),
      new Promise((r) => {
        timer = setTimeout(r, flushTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #listen(entry: { pattern: string; queue: DeliveryQueue; sub?: NatsSubscription }): void {
    if (!this.#nc || entry.sub) return;
    const sub = this.#nc.subscribe(entry.pattern);
    entry.sub = sub;
    void (async () => {
      for await (const msg of sub) {
        let event: CloudEvent;
        try {
          event = parseCloudEvent(msg.json());
        } catch (err) {
          this.#invalid++;
          this.#log.warn(
            { subject: msg.subject, error: (err as Error).message },
            "ignoring a message that is not a CloudEvent",
          );
          continue;
        }
        entry.queue.push(event, msg.subject);
      }
    })();
  }

  #flush(): void {
    const nc = this.#nc;
    if (!nc || this.#closed) return;
    for (let next = this.#buffer.peek(); next && this.#connected; next = this.#buffer.peek()) {
      try {
        nc.publish(next[0], next[1]);
      } catch (err) {
        this.#log.debug({ err }, "publish failed: the event stays buffered");
        return;
      }
      this.#buffer.shift();
    }
  }
}
