import {
  type BackoffPolicy,
  backoffDelay,
  canonicalHash,
  defineKind,
  durationMs,
  type Logger,
  type ReconcileOutcome,
  RetryAfterError,
  silentLogger,
} from "@org/reconcile-core";
import type { DockerDriver, ObservedContainer } from "./driver.js";
import { probeHealth } from "./health.js";
import { type ContainerSpec, ContainerSpecSchema } from "./spec.js";

export const LABEL_OWNER = "org.reconcile.owner";
export const LABEL_RESOURCE = "org.reconcile.resource";
export const LABEL_SPEC_HASH = "org.reconcile.spec-hash";

export interface ContainerKindOptions {
  driver: DockerDriver;
  /** Who manages these containers (an agent id, a runtime name): the owner label. */
  owner: string;
  /** Container names are `<prefix><resource id>`. Default `<owner>-`. */
  namePrefix?: string;
  /** A container that ran less than this before exiting counts as crashing. Default 10 s. */
  minRunMs?: number;
  /** Delay between restarts of a crash-looping container (kubelet-like: 10 s doubling to 5 min). */
  crashBackoff?: BackoffPolicy;
  log?: Logger;
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export function containerName(prefix: string, id: string): string {
  return `${prefix}${id}`.replace(/[^a-zA-Z0-9_.-]/g, "-").replace(/^[^a-zA-Z0-9]+/, "");
}

interface Tracking {
  /** Consecutive quick exits, and the exit already waited for. */
  crashes: number;
  waitedFor?: number;
  /** Health per container id. */
  health?: { containerId: string; failures: number; lastProbe: number; detail?: string };
}

/**
 * The `Container` resource kind. Each managed container carries its owner, its resource id and
 * the hash of its desired spec as labels; drift is decided by that hash and the container's
 * state, never by re-deriving a spec from `docker inspect`. A changed spec checks (or pulls)
 * the new image before the old container is stopped. Exited containers restart per policy,
 * with a crash-loop backoff; the health check, when set, is probed at its interval and a
 * replica failing it `retries` times in a row is replaced.
 */
export function containerKind(options: ContainerKindOptions) {
  const { driver, owner } = options;
  const prefix = options.namePrefix ?? `${owner}-`;
  const minRunMs = options.minRunMs ?? 10_000;
  const crashBackoff = options.crashBackoff ?? { baseMs: 10_000, capMs: 300_000, jitter: 0.1 };
  const log = options.log ?? silentLogger;
  const tracking = new Map<string, Tracking>();
  const track = (id: string) => {
    let t = tracking.get(id);
    if (!t) {
      t = { crashes: 0 };
      tracking.set(id, t);
    }
    return t;
  };

  const labelsFor = (id: string, hash: string) => ({
    [LABEL_OWNER]: owner,
    [LABEL_RESOURCE]: id,
    [LABEL_SPEC_HASH]: hash,
  });
  const details = (c: ObservedContainer, extra: Record<string, unknown> = {}) => ({
    containerId: c.id.slice(0, 12),
    name: c.name,
    state: c.state,
    ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
    ports: c.ports
      .filter((p) => p.host !== undefined)
      .map((p) => `${p.hostIp ? `${p.hostIp}:` : ""}${p.host}->${p.container}/${p.protocol}`),
    ...extra,
  });

  async function replace(
    id: string,
    spec: ContainerSpec,
    hash: string,
    old: ObservedContainer | undefined,
    reason: string,
  ): Promise<ReconcileOutcome> {
    // The new image first: a missing image must not take the running container down.
    await driver.ensureImage(spec.image, spec.pull);
    if (old) {
      log.info({ resource: id, container: old.name, reason }, "replacing container");
      await driver.stop(old.id, durationMs(spec.stopGracePeriod));
      await driver.remove(old.id);
    }
    // Docker's own restart policy stays off: this reconciler restarts per `restartPolicy` with
    // a crash-loop backoff, so one supervisor decides (ADR 004).
    const containerId = await driver.run(
      containerName(prefix, id),
      { ...spec, restartPolicy: "no" },
      labelsFor(id, hash),
    );
    const t = track(id);
    t.health = undefined;
    const created = await driver.inspect(containerId);
    return {
      changed: true,
      details: created
        ? details(created, { reason })
        : { containerId: containerId.slice(0, 12), reason },
    };
  }

  return defineKind({
    name: "Container",
    spec: ContainerSpecSchema,
    reconciler: {
      observe: async (id: string) => driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: id }),

      async reconcile({ id, spec }, observed) {
        const hash = canonicalHash(spec);
        const containers = [...(observed ?? [])].sort(
          (a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0),
        );
        // Keep one: the newest with the desired hash, else the newest; leftovers go.
        const keep = containers.find((c) => c.labels[LABEL_SPEC_HASH] === hash) ?? containers[0];
        for (const extra of containers) if (extra !== keep) await driver.remove(extra.id);

        if (!keep) return replace(id, spec, hash, undefined, "created");
        if (keep.labels[LABEL_SPEC_HASH] !== hash)
          return replace(id, spec, hash, keep, "spec changed");

        const t = track(id);
        if (keep.state === "created") {
          await driver.start(keep.id);
          return { changed: true, details: details(keep, { state: "running" }) };
        }
        if (keep.state === "exited" || keep.state === "dead") {
          const failed = keep.exitCode !== 0 || keep.state === "dead";
          if (spec.restartPolicy === "no" || (spec.restartPolicy === "on-failure" && !failed)) {
            return { changed: false, details: details(keep, { completed: true }) };
          }
          // Docker stamps start and finish separately: a very short run can come out a hair below zero.
          const ranMs = Math.max(
            0,
            (keep.finishedAt?.getTime() ?? 0) - (keep.startedAt?.getTime() ?? 0),
          );
          const finished = keep.finishedAt?.getTime() ?? 0;
          if (t.waitedFor !== finished) {
            t.crashes = ranMs >= minRunMs ? 1 : t.crashes + 1;
            if (t.crashes > 1) {
              t.waitedFor = finished;
              const delay = backoffDelay(crashBackoff, t.crashes - 1);
              throw new RetryAfterError(
                `container exited with code ${keep.exitCode} after ${(ranMs / 1000).toFixed(1)}s, ${t.crashes} times in a row: restarting in ${Math.round(delay / 1000)}s`,
                delay,
              );
            }
          }
          await driver.start(keep.id);
          return {
            changed: true,
            details: details(keep, { state: "running", restarts: t.crashes }),
          };
        }

        const check = spec.healthCheck;
        if (!check || keep.state !== "running") return { changed: false, details: details(keep) };
        const intervalMs = durationMs(check.interval);
        if (t.health?.containerId !== keep.id)
          t.health = { containerId: keep.id, failures: 0, lastProbe: 0 };
        const health = t.health;
        const inStartPeriod =
          Date.now() - (keep.startedAt?.getTime() ?? 0) < durationMs(check.startPeriod);
        if (Date.now() - health.lastProbe >= intervalMs * 0.9) {
          const result = await probeHealth(driver, keep, check);
          health.lastProbe = Date.now();
          health.detail = result.detail;
          health.failures = result.healthy
            ? 0
            : inStartPeriod
              ? health.failures
              : health.failures + 1;
        }
        if (health.failures >= check.retries) {
          return replace(
            id,
            spec,
            hash,
            keep,
            `unhealthy: ${health.failures} failed ${check.type} checks (${health.detail})`,
          );
        }
        return {
          changed: false,
          details: details(keep, {
            health:
              health.failures === 0
                ? "healthy"
                : `failing (${health.failures}/${check.retries}): ${health.detail}`,
          }),
          requeueAfterMs: intervalMs,
        };
      },

      async delete(id: string, spec: ContainerSpec | undefined) {
        const grace = spec ? durationMs(spec.stopGracePeriod) : 10_000;
        for (const c of await driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: id })) {
          await driver.stop(c.id, grace);
          await driver.remove(c.id);
        }
        tracking.delete(id);
      },

      async list() {
        const ids = new Set<string>();
        for (const c of await driver.list({ [LABEL_OWNER]: owner })) {
          const id = c.labels[LABEL_RESOURCE];
          if (id) ids.add(id);
        }
        return [...ids];
      },
    },
  });
}
