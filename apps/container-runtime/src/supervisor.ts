import { join } from "node:path";
import {
  type ManifestStatus,
  type AnyResourceKind,
  Controller,
  KindRegistry,
  type Logger,
  type ResourceStatus,
} from "@org/reconcile-core";
import {
  type DockerEngine,
  type DockerWorkloadDriver,
  dockerDriver,
  LABEL_RESOURCE,
  LABEL_OWNER,
  processDriver,
  type WorkloadDriver,
  workloadKind,
} from "@org/workloads";
import {
  type AgentDefinition,
  compileManifest,
  LABEL_AGENT,
  containerReplicas,
  processReplicas,
  type ReplicaTarget,
  replicaIds,
  resolveEnvironment,
} from "./agent-definition.js";
import { AgentStore } from "./agent-store.js";
import { CLI_OWNER, LEGACY_OWNER } from "./owner.js";

export type Strategy = "docker" | "process";

export interface SupervisorOptions {
  stateDir: string;
  strategy: Strategy;
  /** The Docker engine client for the docker strategy; default one on DOCKER_HOST. */
  driver?: DockerEngine;
  /**
   * Owner label of the managed replicas; one supervisor per owner, and it never touches another
   * owner's. The CLI derives it from the state directory (`resolveOwner`). Default
   * `container-runtime`, the owner of supervisors from before owners were per state directory.
   */
  owner?: string;
  resyncIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
  secretsDir?: string;
  log: Logger;
}

export interface ReplicaStatus {
  id: string;
  status: ResourceStatus | undefined;
}

export interface AgentSummary {
  name: string;
  version: string;
  image: string;
  replicas: number;
  ready: number;
  replicaStatus: ReplicaStatus[];
}

/** Picks Docker when an engine answers, else local processes. */
export async function detectStrategy(driver: Pick<DockerEngine, "ping">): Promise<Strategy> {
  try {
    await driver.ping();
    return "docker";
  } catch {
    return "process";
  }
}

/**
 * Keeps every applied agent converged: one workload resource per replica under the core
 * controller, on the strategy's driver (a `Container` on Docker, a `Process` on this host),
 * backend events turned into immediate reconciles (a dead or removed replica is replaced within
 * a second), health checks at their interval, periodic rescans, and the applied specs persisted
 * so a restart adopts the running workloads instead of recreating them.
 */
export class Supervisor {
  readonly strategy: Strategy;
  readonly owner: string;
  readonly stateDir: string;
  readonly controller: Controller;
  /** The workload driver the replicas run on: logs and listing go through it. */
  readonly workloads: WorkloadDriver;
  readonly #target: ReplicaTarget;
  readonly #store: AgentStore;
  readonly #options: SupervisorOptions;
  readonly #agents = new Map<string, AgentDefinition>();
  readonly #abort = new AbortController();
  #generation = 0;
  #applying: Promise<unknown> = Promise.resolve();

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.strategy = options.strategy;
    this.owner = options.owner ?? LEGACY_OWNER;
    this.stateDir = options.stateDir;
    this.#store = new AgentStore(options.stateDir);
    const kindOptions = { owner: this.owner, namePrefix: "", log: options.log };
    let kind: AnyResourceKind;
    if (options.strategy === "docker") {
      const driver = dockerDriver(options.driver ? { engine: options.driver } : {});
      this.workloads = driver;
      this.#target = containerReplicas;
      kind = workloadKind({ ...kindOptions, kindName: containerReplicas.kind, driver });
    } else {
      const driver = processDriver({ dir: join(options.stateDir, "processes") });
      this.workloads = driver;
      this.#target = processReplicas;
      kind = workloadKind({ ...kindOptions, kindName: processReplicas.kind, driver });
    }
    this.controller = new Controller({
      kinds: new KindRegistry([kind]),
      resyncIntervalMs: options.resyncIntervalMs ?? 5_000,
      backoff: { baseMs: 1_000, capMs: 60_000 },
      log: options.log,
    });
  }

  /** Loads what was applied before, adopts what runs, and starts watching the backend's events. */
  async start(): Promise<void> {
    const { agents, generation, problems } = await this.#store.load();
    for (const p of problems)
      this.#options.log.error({ problem: p }, "ignoring a stored agent spec");
    for (const a of agents) this.#agents.set(a.metadata.name, a);
    this.#generation = generation;
    if (agents.length > 0 || generation > 0) this.#applyAll(false);
    await this.#warnAboutOtherOwners();
    this.controller.start();
    void this.#watchEvents();
  }

  /** Other supervisors' replicas on this engine: said once at start, and never touched. */
  async #warnAboutOtherOwners(): Promise<void> {
    if (this.strategy !== "docker") return;
    try {
      const engine = await (this.workloads as DockerWorkloadDriver).engine();
      for (const [owner, names] of await engine.owners([LABEL_AGENT])) {
        if (owner === this.owner || owner === CLI_OWNER) continue;
        this.#options.log.warn(
          { owner, containers: names.slice(0, 10), count: names.length },
          `${names.length} replica(s) of another supervisor (owner '${owner}') run on this Docker engine; this one (owner '${this.owner}', state dir ${this.stateDir}) leaves them alone. Replica names are per engine: an agent applied to both cannot start its replicas here`,
        );
      }
    } catch (err) {
      this.#options.log.warn(
        { error: (err as Error).message },
        "could not list other supervisors' containers",
      );
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.controller.stop();
    await this.#applying.catch(() => undefined);
  }

  /** Applies (creates or updates) an agent. Throws when its environment cannot be resolved. */
  async apply(agent: AgentDefinition): Promise<{ generation: number }> {
    // Compiling once here refuses what this strategy cannot run before it is stored.
    this.#target.specOf(agent, this.#environment(agent));
    this.#agents.set(agent.metadata.name, agent);
    await this.#store.put(agent);
    return this.#applyAll(true);
  }

  /** Removes an agent and its replicas. Returns false when it is not applied. */
  async delete(name: string): Promise<boolean> {
    if (!this.#agents.delete(name)) return false;
    await this.#store.remove(name);
    await this.#applyAll(true);
    return true;
  }

  get(name: string): AgentDefinition | undefined {
    return this.#agents.get(name);
  }

  summaries(): AgentSummary[] {
    const status = this.controller.status();
    return [...this.#agents.values()].map((agent) => this.#summary(agent, status));
  }

  summary(name: string): AgentSummary | undefined {
    const agent = this.#agents.get(name);
    return agent ? this.#summary(agent, this.controller.status()) : undefined;
  }

  /** Waits until every replica of `name` is Ready at the current generation, or says why not. */
  async waitReady(
    name: string,
    timeoutMs: number,
    onProgress?: (s: AgentSummary) => void,
  ): Promise<{ ready: boolean; summary?: AgentSummary; reason?: string }> {
    const end = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const status = this.controller.status();
      const agent = this.#agents.get(name);
      if (!agent) return { ready: false, reason: `agent ${name} is not applied` };
      const summary = this.#summary(agent, status);
      const line = JSON.stringify(summary.replicaStatus.map((r) => r.status?.state));
      if (line !== last) {
        last = line;
        onProgress?.(summary);
      }
      const current = status.observedGeneration >= this.#generation;
      if (current && summary.ready === summary.replicas) return { ready: true, summary };
      const failed = summary.replicaStatus.filter((r) => r.status?.state === "Failed");
      if (Date.now() > end) {
        const reason =
          failed.length > 0
            ? failed
                .map((r) => `${r.id}: ${r.status?.state === "Failed" ? r.status.error : ""}`)
                .join("; ")
            : `${summary.ready}/${summary.replicas} replicas ready after ${Math.round(timeoutMs / 1000)}s`;
        return { ready: false, summary, reason };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  #summary(agent: AgentDefinition, status: ManifestStatus): AgentSummary {
    const replicaStatus = replicaIds(agent).map((id) => ({ id, status: status.resources[id] }));
    return {
      name: agent.metadata.name,
      version: agent.metadata.version,
      image: agent.spec.image ?? `${agent.metadata.name}:${agent.metadata.version}`,
      replicas: replicaStatus.length,
      ready: replicaStatus.filter((r) => r.status?.state === "Ready").length,
      replicaStatus,
    };
  }

  #environment(agent: AgentDefinition): Record<string, string> {
    return resolveEnvironment(agent, {
      env: this.#options.env ?? process.env,
      ...(this.#options.secretsDir ? { secretsDir: this.#options.secretsDir } : {}),
    });
  }

  /** Compiles every applied agent into one manifest and applies it as the next generation. */
  #applyAll(bump: boolean): Promise<{ generation: number }> {
    const next = this.#applying.then(async () => {
      if (bump) {
        this.#generation++;
        await this.#store.setGeneration(this.#generation);
      }
      const compiled: Array<{ agent: AgentDefinition; env: Record<string, string> }> = [];
      for (const agent of this.#agents.values()) {
        try {
          compiled.push({ agent, env: this.#environment(agent) });
        } catch (err) {
          this.#options.log.error(
            { agent: agent.metadata.name, error: (err as Error).message },
            "cannot resolve the agent's environment; its replicas are left as they are",
          );
        }
      }
      const manifest = compileManifest(this.#generation, compiled, this.#target);
      const result = this.controller.apply(manifest);
      if (!result.applied) throw new Error(result.reason);
      return { generation: this.#generation };
    });
    this.#applying = next.catch(() => undefined);
    return next;
  }

  /** Backend events (where the driver has them) turned into immediate reconciles. */
  async #watchEvents(): Promise<void> {
    const events = this.workloads.events?.bind(this.workloads);
    if (!events) return;
    while (!this.#abort.signal.aborted) {
      try {
        await events(
          { [LABEL_OWNER]: this.owner },
          (e) => {
            if (e.action !== "exited" && e.action !== "removed") return;
            const id = e.labels[LABEL_RESOURCE];
            if (id) this.controller.reconcileNow(id);
          },
          this.#abort.signal,
        );
      } catch (err) {
        this.#options.log.warn(
          { error: (err as Error).message },
          `${this.workloads.name} event stream failed; retrying`,
        );
      }
      if (!this.#abort.signal.aborted) await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}
