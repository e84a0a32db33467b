import type { NatsConnection } from "@nats-io/transport-node";
import type { KvStore, Logger } from "@org/reconcile-core";
import {
  closeNats,
  connectNats,
  describeNats,
  NatsEventBus,
  NatsKvStore,
  type NatsOptions,
} from "@org/transport-nats";
import { DeferredKvStore } from "./deferred-kv.js";
import type { FleetLink } from "./fleet-link.js";

/** How long a closing link lets NATS take what is still to be sent before it lets go. */
export const CLOSE_GRACE_MS = 1_500;

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
  // Closing the link ends a first connection still being waited for (the agent boots offline).
  const closing = new AbortController();
  const connection =
    shared ?? connectNats({ name: `edge-agent ${agentId}`, ...nats }, { signal: closing.signal });
  connection.then(
    (nc) => {
      log.info({ server: nc.getServer() }, "connected to NATS");
      bus.attach(nc);
    },
    (err) => {
      if (!closing.signal.aborted) log.error({ err }, "NATS connection failed");
    },
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
      closing.abort(new Error(`the agent stopped before NATS at ${describeNats(nats)} answered`));
      await bus.close();
      if (shared) return;
      // Settles at once now: connected already, or rejected by the abort.
      const nc = await connection.catch(() => undefined);
      // Within the grace whatever NATS is doing: a plain drain() never closes a connection whose
      // server is gone, and that connection would keep reconnecting, and the process alive, forever.
      if (nc) await closeNats(nc, CLOSE_GRACE_MS);
    },
  };
}
