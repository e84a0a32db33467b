import { readFileSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { arch, freemem, hostname, loadavg, platform, totalmem } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { containerKind, DockerDriver } from "@org/docker";
import {
  type AgentStatus,
  type AnyResourceKind,
  builtinWatchers,
  Controller,
  decodeYaml,
  durationMs,
  type EventBus,
  encodeJson,
  FileStateSource,
  KindRegistry,
  type KvStore,
  type Logger,
  MachineManager,
  type Manifest,
  MemoryEventBus,
  parseManifest,
  type TrustedKey,
  trustedKeyFromPem,
  verifyManifest,
} from "@org/reconcile-core";
import { connectNats, describeNats, NatsEventBus, NatsKvStore } from "@org/transport-nats";
import type { AgentConfig } from "./config.js";
import { DeferredKvStore } from "./deferred-kv.js";
import { actualKey, desiredKey, type Heartbeat, heartbeatKey } from "./fleet.js";
import { fileKind } from "./kinds/file.js";
import { machineKind } from "./kinds/machine.js";
import { scriptKind } from "./kinds/script.js";
import { systemctlCommand, systemdUnitKind } from "./kinds/systemd.js";
import { AgentMetrics } from "./metrics.js";
import { StatusWriter } from "./status-writer.js";

export const AGENT_VERSION = "0.1.0";

/** Facts machines can look up: the facts file, over a few the agent knows itself. */
export function loadFacts(config: AgentConfig): Record<string, unknown> {
  const own = { identity: config.id, hostname: hostname(), platform: platform(), arch: arch() };
  if (!config.factsFile) return own;
  return {
    ...own,
    ...(JSON.parse(readFileSync(config.factsFile, "utf8")) as Record<string, unknown>),
  };
}

function loadTrustedKeys(keys: string[]): TrustedKey[] {
  return keys.map((k) =>
    trustedKeyFromPem(k.includes("BEGIN PUBLIC KEY") ? k : readFileSync(k, "utf8")),
  );
}

type Rejection = { reason: string; message: string; at: string };

/**
 * The device agent: takes a manifest from NATS KV (or a local file), checks its signature,
 * converges files, containers, systemd units, scripts and machines toward it with the core
 * controller, writes typed status back with compare-and-set, sends heartbeats on their own
 * clock, and keeps working from its on-disk copy of the last manifest when the network is gone.
 */
export class EdgeAgent {
  readonly config: AgentConfig;
  readonly bus: EventBus;
  readonly manager: MachineManager;
  readonly controller: Controller;
  readonly metrics = new AgentMetrics();
  readonly #log: Logger;
  readonly #connection?: Promise<NatsConnection>;
  readonly #fleet?: KvStore;
  readonly #buckets = new Map<string, KvStore>();
  readonly #trusted: TrustedKey[];
  readonly #statusWriter?: StatusWriter;
  readonly #startedAt = new Date();
  readonly #abort = new AbortController();
  readonly #cachePath: string;
  #rejection?: Rejection;
  #lastReconcileAt?: string;
  #lastStatus?: AgentStatus;
  #heartbeat?: NodeJS.Timeout;
  #heartbeatPending = false;
  readonly #sharedConnection: boolean;
  #fileSource?: FileStateSource<string>;

  /** `connection`: an existing NATS connection to use instead of connecting (several agents in one process share one). */
  constructor(
    config: AgentConfig,
    log: Logger,
    options: { connection?: Promise<NatsConnection> } = {},
  ) {
    this.config = config;
    this.#log = log;
    this.#sharedConnection = options.connection !== undefined;
    this.#trusted = loadTrustedKeys(config.trust.keys);
    this.#cachePath = join(config.stateDir, "manifest.json");
    if (config.nats) {
      const bus = new NatsEventBus({ log });
      this.bus = bus;
      this.#log.info(
        { nats: describeNats(config.nats), bucket: config.bucket },
        "connecting to NATS (the agent works meanwhile)",
      );
      this.#connection =
        options.connection ?? connectNats({ name: `edge-agent ${config.id}`, ...config.nats });
      this.#connection.then(
        (nc) => {
          this.#log.info({ server: nc.getServer() }, "connected to NATS");
          bus.attach(nc);
        },
        (err) => this.#log.error({ err }, "NATS connection failed"),
      );
      this.#fleet = this.#bucket(config.bucket);
      this.#statusWriter = new StatusWriter(this.#fleet!, actualKey(config.id), log);
    } else {
      this.bus = new MemoryEventBus({ log });
    }

    const kinds: AnyResourceKind[] = [
      fileKind({ allowedRoots: config.allowedRoots, maxBytes: config.maxFileBytes }),
      scriptKind({ stateDir: config.stateDir, allowed: config.scripts.allowed, log }),
      machineKind({ machinesDir: config.machinesDir, allowExec: config.scripts.allowed }),
      systemdUnitKind({
        systemctl: systemctlCommand(config.systemd.systemctl),
        unitDir: config.systemd.unitDir,
      }),
    ];
    if (config.docker.enabled) {
      const driver = new DockerDriver(
        config.docker.socketPath ? { socketPath: config.docker.socketPath } : {},
      );
      kinds.push(
        containerKind({
          driver,
          owner: `edge-agent-${config.id}`,
          namePrefix: `${config.id}-`,
          log,
        }),
      );
    }
    this.controller = new Controller({
      kinds: new KindRegistry(kinds),
      resyncIntervalMs: durationMs(config.resync),
      statusIntervalMs: durationMs(config.statusInterval),
      log,
      events: {
        bus: this.bus,
        source: `edge-agent/${config.id}`,
        subjectPrefix: `agent.${config.id}`,
      },
    });
    this.controller.onStatus(() => {
      this.#lastReconcileAt = new Date().toISOString();
      this.#publishStatus();
    });

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
    await mkdir(this.config.stateDir, { recursive: true });
    await mkdir(this.config.machinesDir, { recursive: true });
    const cached = await readFile(this.#cachePath, "utf8").catch(() => undefined);
    if (cached) {
      this.#log.info(
        { path: this.#cachePath },
        "applying the cached manifest while the source is consulted",
      );
      await this.receive(JSON.parse(cached), "cache");
    }
    this.controller.start();
    await this.manager.start();
    await this.metrics.serve(this.config.metricsPort, this.#log);
    this.#heartbeat = setInterval(
      () => void this.#sendHeartbeat(),
      durationMs(this.config.heartbeatInterval),
    );
    this.#heartbeat.unref();
    void this.#sendHeartbeat();
    const source = this.config.source ?? (this.config.nats ? { type: "nats" as const } : undefined);
    if (source?.type === "file") {
      const fileSource = new FileStateSource<string>({
        path: source.path,
        parse: (text) => ({ ok: true, value: text }),
      });
      this.#fileSource = fileSource;
      await fileSource.start((update) => {
        if (update.type === "error") return this.#reject("SourceError", update.error.message);
        void this.receiveText(update.value, source.path);
      });
    } else if (source?.type === "nats") {
      void this.#watchDesired();
    }
    this.#log.info(
      {
        id: this.config.id,
        source: source?.type ?? "none",
        machines: this.manager.machines().length,
      },
      "edge agent started",
    );
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#heartbeat);
    await this.#fileSource?.stop();
    this.controller.stop();
    this.#statusWriter?.stop();
    await this.manager.stop();
    await this.metrics.close();
    await this.bus.close();
    if (this.#connection && !this.#sharedConnection) {
      const nc = await Promise.race([
        this.#connection,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      ]);
      await nc?.drain().catch(() => undefined);
    }
  }

  /** The agent's status: the controller's, plus a ManifestRejected condition while the last manifest offered was refused. */
  status(): AgentStatus {
    const status = this.controller.status();
    if (!this.#rejection) return status;
    return {
      ...status,
      conditions: [
        ...status.conditions,
        {
          type: "ManifestRejected",
          status: "True",
          reason: this.#rejection.reason,
          message: this.#rejection.message,
          lastTransitionTime: this.#rejection.at,
        },
      ],
    };
  }

  async receiveText(text: string, origin: string): Promise<void> {
    const decoded = decodeYaml(text);
    if (!decoded.ok)
      return this.#reject(
        "InvalidManifest",
        `${origin}: not valid YAML or JSON: ${decoded.message}`,
      );
    return this.receive(decoded.value, origin);
  }

  /** Checks a manifest (shape, signature, generation) and applies it; a refusal is reported in the status. */
  async receive(raw: unknown, origin: string): Promise<void> {
    const parsed = parseManifest(raw);
    if (!parsed.ok) return this.#reject("InvalidManifest", `${origin}: ${parsed.error.message}`);
    const manifest = parsed.manifest;
    const check = verifyManifest(manifest, this.#trusted, this.config.trust.requireSignature);
    if (!check.ok) {
      return this.#reject(
        check.reason === "unsigned"
          ? "SignatureRequired"
          : check.reason === "unknown-key"
            ? "UntrustedKey"
            : "BadSignature",
        `${origin}: ${check.message}`,
      );
    }
    const current = this.controller.status().manifestGeneration;
    if (origin !== "cache" && manifest.generation < current) {
      return this.#reject(
        "StaleGeneration",
        `${origin}: generation ${manifest.generation} is older than generation ${current}, already applied; ignored`,
      );
    }
    const result = this.controller.apply(manifest);
    if (!result.applied) return this.#reject("StaleGeneration", `${origin}: ${result.reason}`);
    // Cached only once accepted: a crash before this line replays it from the source anyway.
    if (origin !== "cache") await this.#cache(manifest);
    this.metrics.manifestsApplied.inc();
    if (this.#rejection) {
      this.#rejection = undefined;
      this.#publishStatus();
    }
    this.#log.info(
      {
        generation: manifest.generation,
        origin,
        resources: manifest.resources.length,
        signedBy: check.keyId,
      },
      "manifest applied",
    );
  }

  #reject(reason: string, message: string): void {
    this.#log.warn({ reason, message }, "manifest rejected; the last good one stays in force");
    this.metrics.manifestsRejected.inc({ reason });
    this.#rejection = { reason, message, at: new Date().toISOString() };
    this.#publishStatus();
  }

  async #cache(manifest: Manifest): Promise<void> {
    const tmp = `${this.#cachePath}.tmp`;
    await writeFile(tmp, JSON.stringify(manifest));
    await rename(tmp, this.#cachePath);
  }

  #publishStatus(): void {
    const status = this.status();
    this.#lastStatus = status;
    this.metrics.observe(status);
    this.#statusWriter?.offer(status);
  }

  async #watchDesired(): Promise<void> {
    const key = desiredKey(this.config.id);
    while (!this.#abort.signal.aborted) {
      try {
        const watch = await this.#fleet!.watch(key);
        this.#abort.signal.addEventListener("abort", () => watch.stop(), { once: true });
        for await (const entry of watch) {
          if (entry.operation !== "PUT") {
            this.#log.warn({ key }, "desired state was deleted; keeping the last manifest");
            continue;
          }
          await this.receiveText(new TextDecoder().decode(entry.value), `${key}@${entry.revision}`);
        }
      } catch (err) {
        if (!this.#abort.signal.aborted)
          this.#log.warn(
            { error: (err as Error).message },
            "desired-state watch ended; watching again",
          );
      }
      if (!this.#abort.signal.aborted) await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  async #sendHeartbeat(): Promise<void> {
    // One heartbeat in flight at most: while NATS is away they do not pile up.
    if (!this.#fleet || this.#heartbeatPending) return;
    this.#heartbeatPending = true;
    const status = this.#lastStatus ?? this.status();
    const states = Object.values(status.resources);
    const heartbeat: Heartbeat = {
      agent: this.config.id,
      version: AGENT_VERSION,
      startedAt: this.#startedAt.toISOString(),
      at: new Date().toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.#startedAt.getTime()) / 1000),
      ...(this.#lastReconcileAt ? { lastReconcileAt: this.#lastReconcileAt } : {}),
      manifestGeneration: status.manifestGeneration,
      observedGeneration: status.observedGeneration,
      resources: {
        total: states.length,
        ready: states.filter((s) => s.state === "Ready").length,
        failed: states.filter((s) => s.state === "Failed").length,
      },
      system: {
        hostname: hostname(),
        platform: platform(),
        arch: arch(),
        loadavg: loadavg(),
        memTotalBytes: totalmem(),
        memFreeBytes: freemem(),
      },
    };
    try {
      await this.#fleet.put(heartbeatKey(this.config.id), encodeJson(heartbeat));
      this.metrics.heartbeats.inc();
    } catch (err) {
      this.#log.debug({ error: (err as Error).message }, "heartbeat not sent");
    } finally {
      this.#heartbeatPending = false;
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
