import type { NatsConnection } from "@nats-io/transport-node";
import { type EventBus, type KvStore, type Logger, MemoryEventBus } from "@org/reconcile-core";
import type { AgentConfig } from "./config.js";

/** How the agent reaches its fleet: an event bus and KV buckets (status, heartbeats, machines' kv watchers). */
export interface FleetLink {
  readonly bus: EventBus;
  /** The store of `bucket`, or undefined when the agent runs without a fleet connection. */
  bucket(name: string): KvStore | undefined;
  /** Closes the bus, and the connection unless it was handed in. */
  close(): Promise<void>;
}

export interface FleetLinkOptions {
  /** An existing NATS connection to use instead of connecting (several agents in one process share one). */
  connection?: Promise<NatsConnection>;
}

/** The agent's link: over NATS when `config.nats` is set (the NATS client is loaded only then), else local only. */
export async function openFleetLink(
  config: AgentConfig,
  log: Logger,
  options: FleetLinkOptions = {},
): Promise<FleetLink> {
  if (!config.nats) {
    const bus = new MemoryEventBus({ log });
    return { bus, bucket: () => undefined, close: () => bus.close() };
  }
  const { natsFleetLink } = await import("./nats-link.js");
  return natsFleetLink(config.id, config.nats, log, options.connection);
}
