import { readFileSync } from "node:fs";
import { arch, hostname, platform } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  builtinWatchers,
  type EventBus,
  type KvStore,
  type Logger,
  MachineManager,
  MemoryEventBus,
} from "@org/reconcile-core";
import { connectNats, describeNats, NatsEventBus, NatsKvStore } from "@org/transport-nats";
import type { AgentConfig } from "./config.js";
import { DeferredKvStore } from "./deferred-kv.js";

/** Facts machines can look up: the facts file, over a few the agent knows itself. */
export function loadFacts(config: AgentConfig): Record<string, unknown> {
  const own = { identity: config.id, hostname: hostname(), platform: platform(), arch: arch() };
  if (!config.factsFile) return own;
  return {
    ...own,
    ...(JSON.parse(readFileSync(config.factsFile, "utf8")) as Record<string, unknown>),
  };
}

/**
 * The agent daemon: hosts the machines directory and sends every event to NATS when it is
 * configured (buffering while it is unreachable), so machines run whether or not the network is up.
 */
export class EdgeAgent {
  readonly config: AgentConfig;
  readonly bus: EventBus;
  readonly manager: MachineManager;
  readonly #log: Logger;
  readonly #connection?: Promise<NatsConnection>;
  readonly #buckets = new Map<string, KvStore>();

  constructor(config: AgentConfig, log: Logger) {
    this.config = config;
    this.#log = log;
    if (config.nats) {
      const bus = new NatsEventBus({ log });
      this.bus = bus;
      this.#log.info(
        { nats: describeNats(config.nats) },
        "connecting to NATS (machines run meanwhile)",
      );
      this.#connection = connectNats({ name: `edge-agent ${config.id}`, ...config.nats });
      this.#connection.then(
        (nc) => {
          this.#log.info({ server: nc.getServer() }, "connected to NATS");
          bus.attach(nc);
        },
        (err) => this.#log.error({ err }, "NATS connection failed"),
      );
    } else {
      this.bus = new MemoryEventBus({ log });
    }
    const facts = loadFacts(config);
    this.manager = new MachineManager({
      directory: config.machinesDir,
      identity: config.id,
      registry: builtinWatchers(),
      bus: this.bus,
      kv: (bucket) => this.#bucket(bucket),
      facts: () => facts,
      log,
    });
  }

  async start(): Promise<void> {
    await this.manager.start();
    this.#log.info(
      {
        id: this.config.id,
        machinesDir: this.config.machinesDir,
        machines: this.manager.machines().length,
      },
      "edge agent started",
    );
  }

  async stop(): Promise<void> {
    await this.manager.stop();
    await this.bus.close();
    if (this.#connection) {
      const nc = await Promise.race([
        this.#connection,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      ]);
      await nc?.drain().catch(() => undefined);
    }
  }

  #bucket(bucket: string): KvStore | undefined {
    const connection = this.#connection;
    if (!connection) return undefined;
    let store = this.#buckets.get(bucket);
    if (!store) {
      store = new DeferredKvStore(connection.then((nc) => NatsKvStore.open(nc, bucket)));
      this.#buckets.set(bucket, store);
    }
    return store;
  }
}
