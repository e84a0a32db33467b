import type {
  CreateRequest,
  Labels,
  ObservedWorkload,
  WorkloadDriver,
  WorkloadEvent,
} from "../../driver.js";
import type { DockerEngine, DockerEngineOptions, ObservedContainer } from "./engine.js";
import { probeHealth } from "./health.js";
import { type ContainerSpec, ContainerSpecSchema } from "./spec.js";

export interface DockerDriverOptions extends DockerEngineOptions {
  /** An engine client to use instead of one made (and dockerode loaded) on first use. */
  engine?: DockerEngine;
}

/** The Docker workload driver, plus the engine client under it for callers that need more (stats, exec). */
export interface DockerWorkloadDriver extends WorkloadDriver<ContainerSpec> {
  /** The engine client; loads dockerode on first call. */
  engine(): Promise<DockerEngine>;
}

const EVENT_ACTIONS: Record<string, WorkloadEvent["action"]> = {
  start: "started",
  die: "exited",
  stop: "exited",
  kill: "exited",
  oom: "exited",
  destroy: "removed",
};

/** A container as the workload kind sees it: Docker's states folded into pending, running, exited. */
export function observedWorkload(c: ObservedContainer): ObservedWorkload {
  const state =
    c.state === "created"
      ? "created"
      : // Being removed (by hand, or by us): nothing to restart; it is about to be gone.
        c.state === "removing"
        ? "pending"
        : c.state === "exited" || c.state === "dead"
          ? "exited"
          : "running";
  return {
    id: c.id,
    name: c.name,
    state,
    ...(state === "exited" ? { exitCode: c.exitCode ?? 137 } : {}),
    ...(c.startedAt ? { startedAt: c.startedAt } : {}),
    ...(c.finishedAt ? { finishedAt: c.finishedAt } : {}),
    labels: c.labels,
    details: {
      containerId: c.id.slice(0, 12),
      image: c.image,
      ports: c.ports
        .filter((p) => p.host !== undefined)
        .map((p) => `${p.hostIp ? `${p.hostIp}:` : ""}${p.host}->${p.container}/${p.protocol}`),
      ...(c.oomKilled ? { oomKilled: true } : {}),
    },
  };
}

/**
 * Containers on a Docker engine. Returns at once; dockerode is loaded on the first call that
 * needs the engine, so a process that never runs a container never loads it. Docker's own
 * restart policy stays off: the workload kind restarts per `restartPolicy` with its crash-loop
 * backoff, so one supervisor decides (ADR 004).
 */
export function dockerDriver(options: DockerDriverOptions = {}): DockerWorkloadDriver {
  let engine: Promise<DockerEngine> | undefined = options.engine
    ? Promise.resolve(options.engine)
    : undefined;
  const load = () => {
    engine ??= import("./engine.js").then(
      ({ DockerEngine }) =>
        new DockerEngine(options.socketPath ? { socketPath: options.socketPath } : {}),
    );
    return engine;
  };
  const containers = async (id: string) => {
    const c = await (await load()).inspect(id);
    return c ? observedWorkload(c) : undefined;
  };

  return {
    name: "docker",
    specSchema: ContainerSpecSchema,
    engine: load,

    async prepare(spec) {
      await (await load()).ensureImage(spec.image, spec.pull);
    },

    async create({ name, spec, labels }: CreateRequest<ContainerSpec>) {
      const e = await load();
      const id = await e.run(name, { ...spec, restartPolicy: "no" }, labels);
      const created = await containers(id);
      return created ?? { id, name, state: "pending", labels, details: {} };
    },

    inspect: containers,

    async list(labels: Labels) {
      return (await (await load()).list(labels)).map(observedWorkload);
    },

    async stop(id, graceMs) {
      await (await load()).stop(id, graceMs);
    },

    async remove(id) {
      await (await load()).remove(id);
    },

    async restart(workload) {
      return (await load()).start(workload.id);
    },

    async logs(id, logOptions = {}) {
      return (await load()).logs(id, logOptions);
    },

    async events(labels, onEvent, signal) {
      await (await load()).events(
        labels,
        (e) => onEvent({ action: EVENT_ACTIONS[e.action] ?? "other", id: e.id, labels: e.labels }),
        signal,
      );
    },

    async probe(workload, check) {
      const e = await load();
      const c = await e.inspect(workload.id);
      if (!c) return { healthy: false, detail: `container ${workload.name} is gone` };
      return probeHealth(e, c, check);
    },
  };
}
