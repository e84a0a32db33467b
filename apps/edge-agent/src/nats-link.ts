import type { NatsConnection } from "@nats-io/transport-node";
import type { KvStore, Logger } from "@org/reconcile-core";
import {
  connectNats,
  describeNats,
  NatsEventBus,
  NatsKvStore,
  type NatsOptions,
} from "@org/transport-nats";
import { DeferredKvStore } from "./deferred-kv.js";
import type { FleetLink } from "./fleet-link.js";

/**
 * The fleet link over NATS. It returns before the connection exists: events are buffered and
 * KV calls wait, so an agent that boots offline converges from its cache meanwhile.
 */
export function natsFleetLink(
  agentId: string,
  nats: NatsOptions,
  log: Logger,
  shared?: Promise<NatsConnection>,
): FleetLink {
  const bus = new NatsEventBus({ log });
  log.info({ nats: describeNats(nats) }, "connecting to NATS (the agent works meanwhile)");
  const connection = shared ?? connectNats({ name: `edge-agent ${agentId}`, ...nats });
  connection.then(
    (nc) => {
      log.info({ server: nc.getServer() }, "connected to NATS");
      bus.attach(nc);
    },
    (err) => log.error({ err }, "NATS connection failed"),
  );
  const buckets = new Map<string, KvStore>();
  return {
    bus,
    bucket(name) {
      let store = buckets.get(name);
      if (!store) {
        store = new DeferredKvStore(connection.then((nc) => NatsKvStore.open(nc, name)));
        buckets.set(name, store);
      }
      return store;
    },
    async close() {
      await bus.close();
      if (shared) return;
      // A connection still being attempted is abandoned, not waited for.
      let timer: NodeJS.Timeout | undefined;
      const nc = await Promise.race([
        connection.catch(() => undefined),
        new Promise<undefined>((r) => {
          timer = setTimeout(() => r(undefined), 100);
        }),
      ]);
      clearTimeout(timer);
      await nc?.drain().catch(() => undefined);
    },
  };
}
