import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { arch, hostname, platform } from "node:os";
import { join } from "node:path";
import {
  type Manifest,
  type ManifestStatus,
  builtinWatchers,
  Controller,
  durationMs,
  type EventBus,
  type Logger,
  MachineManager,
  parseManifest,
  type StateSource,
  type StateUpdate,
  type TrustedKey,
  trustedKeyFromPem,
  verifyManifest,
  type WatcherRegistry,
} from "@org/reconcile-core";
import { packageVersion } from "@org/cli";
import { agentKinds } from "./agent-kinds.js";
import type { AgentConfig } from "./config.js";
import { actualKey } from "./fleet.js";
import { type FleetLink, type FleetLinkOptions, openFleetLink } from "./fleet-link.js";
import { HeartbeatSender } from "./heartbeat.js";
import { ManifestCache } from "./manifest-cache.js";
import { readManifestDocument, withGeneration } from "./manifest-document.js";
import { AgentMetrics } from "./metrics.js";
import type { AgentKindRegistry } from "./resource-events.js";
import { desiredStateSource, sourceType } from "./sources.js";
import { StatusWriter } from "./status-writer.js";

/**
 * The agent's version, as heartbeats report it: the nearest `package.json`'s (the app's, or the
 * one `deploy/install.sh` puts next to a bundled agent).
 */
export const AGENT_VERSION = packageVersion(import.meta.url) ?? "unknown";

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

/** What `EdgeAgent.create` assembles before the agent exists. */
interface AgentParts {
  config: AgentConfig;
  log: Logger;
  link: FleetLink;
  kinds: AgentKindRegistry;
  watchers: WatcherRegistry;
}

/**
 * The device agent: takes a manifest from its state source (NATS KV or a local file), checks
 * its signature, converges files, containers, systemd units, scripts and machines toward it
 * with the core controller, writes typed status back with compare-and-set, sends heartbeats on
 * their own clock, and keeps working from its on-disk copy of the last manifest when the
 * network is gone. Build one with `EdgeAgent.create`.
 */
export class EdgeAgent {
  readonly config: AgentConfig;
  readonly bus: EventBus;
  readonly manager: MachineManager;
  readonly controller: Controller;
  /** The one watcher registry of this agent: its machine manager and its Machine kind both use it. */
  readonly watchers: WatcherRegistry;
  readonly metrics = new AgentMetrics();
  readonly #log: Logger;
  readonly #link: FleetLink;
  readonly #trusted: TrustedKey[];
  readonly #cache: ManifestCache;
  readonly #source?: StateSource<string>;
  readonly #statusWriter?: StatusWriter;
  readonly #heartbeat?: HeartbeatSender;
  #rejection?: Rejection;
  /** The kinds, whose event streams (Docker's) run while the agent runs. */
  readonly #kinds: AgentKindRegistry;
  #unwatchKinds?: () => void;
  /** The last manifest accepted, to give a manifest file without `generation` its number. */
  #applied?: Manifest;
  #lastReconcileAt?: string;
  #lastStatus?: ManifestStatus;
  /** Source updates are handled one at a time, in the order the source delivered them. */
  #receiving: Promise<void> = Promise.resolve();

  /**
   * Loads what the configuration asks for and nothing else: the NATS client only with `nats`,
   * the Docker client only with `docker.enabled`. Starts nothing; call `start()`.
   */
  static async create(
    config: AgentConfig,
    log: Logger,
    options: FleetLinkOptions = {},
  ): Promise<EdgeAgent> {
    const watchers = builtinWatchers();
    const link = await openFleetLink(config, log, options);
    const kinds = await agentKinds(config, log, watchers);
    return new EdgeAgent({ config, log, link, kinds, watchers });
  }

  private constructor({ config, log, link, kinds, watchers }: AgentParts) {
    this.config = config;
    this.#log = log;
    this.#link = link;
    this.bus = link.bus;
    this.watchers = watchers;
    this.#kinds = kinds;
    this.#trusted = loadTrustedKeys(config.trust.keys);
    this.#cache = new ManifestCache(join(config.stateDir, "manifest.json"));
    this.#source = desiredStateSource(config, link);

    const fleet = link.bucket(config.bucket);
    if (fleet) {
      this.#statusWriter = new StatusWriter(fleet, actualKey(config.id), log);
      this.#heartbeat = new HeartbeatSender({
        agent: config.id,
        version: AGENT_VERSION,
        store: fleet,
        intervalMs: durationMs(config.heartbeatInterval),
        status: () => this.#lastStatus ?? this.status(),
        lastReconcileAt: () => this.#lastReconcileAt,
        onSent: () => this.metrics.heartbeats.inc(),
        log,
      });
    }

    this.controller = new Controller({
      kinds,
      resyncIntervalMs: durationMs(config.resync),
      statusIntervalMs: durationMs(config.statusInterval),
      log,
      events: {
        bus: this.bus,
        source: `edge-agent/${config.id}`,
        subjectPrefix: `agent.${config.id}`,
      },
    });
    this.controller.onStatus((status) => {
      this.#lastReconcileAt = new Date().toISOString();
      this.#publishStatus(status);
    });

    const facts = loadFacts(config);
    this.manager = new MachineManager({
      directory: config.machinesDir,
      identity: config.id,
      registry: watchers,
      remoteCommands: config.scripts.allowed,
      bus: this.bus,
      kv: (bucket) => link.bucket(bucket),
      facts: () => facts,
      log,
    });
  }

  async start(): Promise<void> {
    await mkdir(this.config.stateDir, { recursive: true });
    await mkdir(this.config.machinesDir, { recursive: true });
    const cached = await this.#cache.load();
    if (cached.type === "cached") {
      this.#log.info(
        { path: this.#cache.path },
        "applying the cached manifest while the source is consulted",
      );
      await this.receive(cached.value, "cache");
    } else if (cached.type === "unreadable") {
      this.#log.warn({ error: cached.message }, "the cached manifest is ignored");
    }
    this.controller.start();
    this.#unwatchKinds = this.#kinds.watch((id) => this.controller.reconcileNow(id));
    await this.manager.start();
    await this.metrics.serve(this.config.metricsPort, this.#log);
    this.#heartbeat?.start();
    await this.#source?.start((update) => {
      this.#receiving = this.#receiving.then(() => this.#onSourceUpdate(update));
    });
    this.#log.info(
      {
        id: this.config.id,
        source: sourceType(this.config),
        machines: this.manager.machines().length,
      },
      "edge agent started",
    );
  }

  /**
   * Stops within seconds whatever NATS is doing (away, or never reached): nothing waits for the
   * server beyond the link's short grace. What was not sent by then is not kept, except what the
   * next start rebuilds: the status is recomputed from the cached manifest and written once
   * NATS answers, and a new heartbeat is sent. Events still buffered for NATS are dropped.
   */
  async stop(): Promise<void> {
    this.#heartbeat?.stop();
    await this.#source?.stop();
    await this.#receiving;
    this.#unwatchKinds?.();
    this.controller.stop();
    this.#statusWriter?.stop();
    await this.manager.stop();
    await this.metrics.close();
    await this.#link.close();
    this.#log.info({ id: this.config.id }, "edge agent stopped");
  }

  /**
   * The agent's status: the controller's, plus a ManifestRejected condition while the last
   * manifest offered was refused; the device is then not where it was asked to be, so Ready is
   * False (reason ManifestRejected) whatever the last good manifest's resources say.
   */
  status(): ManifestStatus {
    return this.#withRejection(this.controller.status());
  }

  #withRejection(status: ManifestStatus): ManifestStatus {
    if (!this.#rejection) return status;
    const rejection = this.#rejection;
    return {
      ...status,
      conditions: [
        ...status.conditions.map((c) =>
          c.type === "Ready" && c.status === "True"
            ? {
                ...c,
                status: "False" as const,
                reason: "ManifestRejected",
                message: `the last manifest offered was rejected (${rejection.reason})`,
                lastTransitionTime: rejection.at,
              }
            : c,
        ),
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

  /**
   * Decodes a manifest's YAML or JSON text, as `apply -f` reads it (a file without
   * `generation` gets one, see `withGeneration`), and applies it as `receive` does.
   */
  async receiveText(text: string, origin: string): Promise<void> {
    const read = readManifestDocument(text, origin);
    if (!read.ok) return this.#reject("InvalidManifest", read.message);
    // `readManifestDocument` validated it as a manifest already: not parsed a second time.
    return this.#accept(withGeneration(read.document, this.#applied), origin);
  }

  /** Checks a manifest (shape, signature, generation) and applies it; a refusal is reported in the status. */
  async receive(raw: unknown, origin: string): Promise<void> {
    const parsed = parseManifest(raw);
    if (!parsed.ok) return this.#reject("InvalidManifest", `${origin}: ${parsed.error.message}`);
    return this.#accept(parsed.manifest, origin);
  }

  /** Checks a valid manifest's signature and generation, and applies it. */
  async #accept(manifest: Manifest, origin: string): Promise<void> {
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
    const current = this.controller.manifestGeneration;
    if (origin !== "cache" && manifest.generation < current) {
      return this.#reject(
        "StaleGeneration",
        `${origin}: generation ${manifest.generation} is older than generation ${current}, already applied; ignored`,
      );
    }
    const result = this.controller.apply(manifest);
    if (!result.applied) return this.#reject("StaleGeneration", `${origin}: ${result.reason}`);
    this.#applied = manifest;
    // Cached only once accepted: a crash before this line replays it from the source anyway.
    if (origin !== "cache") this.#cache.save(manifest);
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

  async #onSourceUpdate(update: StateUpdate<string>): Promise<void> {
    if (update.type === "desired") return this.receiveText(update.value, update.origin);
    // An outage is retried by the source itself, and a deleted key is an operator's act, not a
    // refused manifest: both are logged, and the last manifest stays in force.
    if (update.error.code === "unavailable" || update.error.code === "deleted")
      return this.#log.warn({ error: update.error.message }, "no new desired state");
    this.#reject("SourceError", update.error.message);
  }

  #reject(reason: string, message: string): void {
    this.#log.warn({ reason, message }, "manifest rejected; the last good one stays in force");
    this.metrics.manifestsRejected.inc({ reason });
    this.#rejection = { reason, message, at: new Date().toISOString() };
    this.#publishStatus();
  }

  /** Publishes `controllerStatus` (the controller's, just built), or a status built now. */
  #publishStatus(controllerStatus?: ManifestStatus): void {
    const status = controllerStatus ? this.#withRejection(controllerStatus) : this.status();
    this.#lastStatus = status;
    this.metrics.observe(status);
    this.#statusWriter?.offer(status);
  }
}
