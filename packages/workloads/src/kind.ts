import { createHash } from "node:crypto";
import {
  type BackoffPolicy,
  canonicalHash,
  defineKind,
  durationMs,
  type Logger,
  type ReconcileOutcome,
  RetryAfterError,
  silentLogger,
  TerminalError,
} from "@org/reconcile-core";
import { backoffDelay, defaultBackoff } from "@org/reconcile-core/internal";
import {
  LABEL_OWNER,
  LABEL_RESOURCE,
  LABEL_SPEC_HASH,
  type ObservedWorkload,
  type WorkloadDriver,
} from "./driver.js";
import type { LifecycleSpec } from "./lifecycle.js";

/**
 * Delay between restarts of a crash-looping workload: kubelet's numbers (10 s doubling to
 * 5 min), the same policy the controller uses for failing resources, so there is one set.
 */
export const CRASH_LOOP_BACKOFF: BackoffPolicy = defaultBackoff;

/** A workload that ran less than this before exiting counts as a crash. */
export const DEFAULT_MIN_RUN_MS = 10_000;

export interface WorkloadKindOptions<Spec extends LifecycleSpec> {
  /** The resource kind's name in manifests: `Container`, `Process`, `Worker`. */
  kindName: string;
  driver: WorkloadDriver<Spec>;
  /** Who manages these workloads (an agent id, a runtime name): the owner label. */
  owner: string;
  /** Workload names are `<prefix><resource id>`. Default `<owner>-`. */
  namePrefix?: string;
  /** Default `DEFAULT_MIN_RUN_MS`; tests shorten it. */
  minRunMs?: number;
  /** Default `CRASH_LOOP_BACKOFF`; tests shorten it. */
  crashBackoff?: BackoffPolicy;
  /** How soon to look again at a workload the backend still starts. Default 1 s. */
  pendingPollMs?: number;
  log?: Logger;
}

/** Backend names allow [a-zA-Z0-9][a-zA-Z0-9_.-]* (Docker's rule, and a safe file name). */
export function workloadName(prefix: string, id: string): string {
  return `${prefix}${id}`.replace(/[^a-zA-Z0-9_.-]/g, "-").replace(/^[^a-zA-Z0-9]+/, "");
}

/** One run of a workload: a restart in place keeps the id but not the start time. */
const runOf = (w: ObservedWorkload) => `${w.id}@${w.startedAt?.getTime() ?? 0}`;

interface Tracking {
  /** Consecutive quick exits, and the run whose backoff was already waited for. */
  crashes: number;
  waitedFor?: string;
  health?: {
    run: string;
    failures: number;
    nextProbe: number;
    detail?: string;
    /** The last probe's verdict; undefined before the first. */
    healthy?: boolean;
  };
}

/**
 * The one resource kind for workloads on any driver. Each workload carries its owner, its
 * resource id and the hash of its desired spec as labels; drift is decided by that hash and
 * the workload's state, never by re-deriving a spec from inspection. A changed spec is
 * prepared (Docker: the image is present) before the old workload stops. Exited workloads
 * restart per `restartPolicy` with a crash-loop backoff; run-to-completion workloads (`no`,
 * `on-failure`) that exit 0 are Ready with `completed: true`, and a `no` workload that exits
 * non-zero fails terminally with its exit code. The health check, when set, is probed at its
 * interval and a workload failing it `retries` times in a row is replaced.
 */
export function workloadKind<Spec extends LifecycleSpec>(options: WorkloadKindOptions<Spec>) {
  const { driver, owner, kindName } = options;
  const prefix = options.namePrefix ?? `${owner}-`;
  const minRunMs = options.minRunMs ?? DEFAULT_MIN_RUN_MS;
  const crashBackoff = options.crashBackoff ?? CRASH_LOOP_BACKOFF;
  const pendingPollMs = options.pendingPollMs ?? 1_000;
  const log = options.log ?? silentLogger;
  /** How messages name a workload: `container`, `process`. */
  const noun = kindName.toLowerCase();
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
  const details = (w: ObservedWorkload, extra: Record<string, unknown> = {}) => ({
    driver: driver.name,
    name: w.name,
    state: w.state,
    ...(w.exitCode === undefined ? {} : { exitCode: w.exitCode }),
    ...w.details,
    ...extra,
  });
  /** Same for a retried launch of the same replacement, new for every other launch. */
  const idempotencyKey = (id: string, hash: string, old: ObservedWorkload | undefined) =>
    createHash("sha256")
      .update(JSON.stringify([owner, id, hash, old ? runOf(old) : ""]))
      .digest("hex")
      .slice(0, 32);

  async function launch(
    id: string,
    spec: Spec,
    hash: string,
    old: ObservedWorkload | undefined,
    reason: string,
  ): Promise<ReconcileOutcome> {
    // Prepare first: a missing image must not take the running workload down.
    await driver.prepare?.(spec);
    if (old) {
      log.info({ resource: id, workload: old.name, reason }, `replacing ${kindName}`);
      await driver.stop(old.id, durationMs(spec.stopGracePeriod));
      await driver.remove(old.id);
    }
    const created = await driver.create({
      name: workloadName(prefix, id),
      spec,
      labels: labelsFor(id, hash),
      idempotencyKey: idempotencyKey(id, hash, old),
    });
    const t = track(id);
    t.health = undefined;
    return {
      changed: true,
      details: details(created, { reason }),
      // The first probe is due one interval after the start, not at the next resync.
      ...(spec.healthCheck ? { requeueAfterMs: durationMs(spec.healthCheck.interval) } : {}),
    };
  }

  /** The workload running again, or undefined when it is going away and cannot be restarted. */
  async function restart(
    id: string,
    spec: Spec,
    hash: string,
    w: ObservedWorkload,
  ): Promise<ObservedWorkload | undefined> {
    if (driver.restart) {
      if (!(await driver.restart(w, spec))) return undefined;
      return (await driver.inspect(w.id)) ?? w;
    }
    await driver.remove(w.id);
    return driver.create({
      name: workloadName(prefix, id),
      spec,
      labels: labelsFor(id, hash),
      idempotencyKey: idempotencyKey(id, hash, w),
    });
  }

  async function exited(
    id: string,
    spec: Spec,
    hash: string,
    w: ObservedWorkload,
  ): Promise<ReconcileOutcome> {
    const code = w.exitCode ?? 137;
    const policy = spec.restartPolicy;
    if ((policy === "no" || policy === "on-failure") && code === 0)
      return { changed: false, details: details(w, { completed: true }) };
    if (policy === "no") {
      throw new TerminalError(
        `${noun} exited with code ${code} and restartPolicy is 'no', so it is not restarted: read its logs, then change the spec (or delete and re-apply it) to run it again`,
      );
    }
    const t = track(id);
    const before = { crashes: t.crashes, waitedFor: t.waitedFor };
    const run = runOf(w);
    if (t.waitedFor !== run) {
      // A run of unknown length (killed with its supervisor) is not counted as a crash.
      const ranMs =
        w.finishedAt && w.startedAt
          ? Math.max(0, w.finishedAt.getTime() - w.startedAt.getTime())
          : Number.POSITIVE_INFINITY;
      t.crashes = ranMs >= minRunMs ? 1 : t.crashes + 1;
      if (t.crashes > 1) {
        t.waitedFor = run;
        const delay = backoffDelay(crashBackoff, t.crashes - 1);
        throw new RetryAfterError(
          `${noun} exited with code ${code} after ${(ranMs / 1000).toFixed(1)}s, ${t.crashes} times in a row: restarting in ${Math.round(delay / 1000)}s`,
          delay,
        );
      }
    }
    t.health = undefined;
    const restarted = await restart(id, spec, hash, w);
    if (!restarted) {
      // Removed by hand while it exited: not a crash; a new one follows once it is gone.
      Object.assign(t, before);
      return lookAgainSoon(w);
    }
    return {
      changed: true,
      details: details(restarted, { restarts: t.crashes, lastExitCode: code }),
    };
  }

  /** Still starting, or on its way out: look again soon (an event may come sooner). */
  function lookAgainSoon(w: ObservedWorkload): ReconcileOutcome {
    return {
      changed: false,
      progressing: true,
      details: details(w),
      requeueAfterMs: pendingPollMs,
    };
  }

  async function running(
    id: string,
    spec: Spec,
    hash: string,
    w: ObservedWorkload,
  ): Promise<ReconcileOutcome> {
    const check = spec.healthCheck;
    if (!check || !driver.probe) return { changed: false, details: details(w) };
    const t = track(id);
    const run = runOf(w);
    if (t.health?.run !== run) t.health = { run, failures: 0, nextProbe: 0 };
    const health = t.health;
    const intervalMs = durationMs(check.interval);
    const now = Date.now();
    if (now >= health.nextProbe) {
      const inStartPeriod = now - (w.startedAt?.getTime() ?? 0) < durationMs(check.startPeriod);
      const result = await driver.probe(w, check, spec);
      health.nextProbe = Date.now() + intervalMs;
      health.detail = result.detail;
      health.healthy = result.healthy;
      if (result.healthy) health.failures = 0;
      else if (!inStartPeriod) health.failures++;
    }
    if (health.failures >= check.retries) {
      return launch(
        id,
        spec,
        hash,
        w,
        `unhealthy: ${health.failures} failed ${check.type} checks (${health.detail})`,
      );
    }
    return {
      changed: false,
      details: details(w, {
        health: health.healthy
          ? "healthy"
          : health.failures === 0
            ? // Failing within startPeriod: not counted yet, and not healthy either.
              `starting: ${health.detail}`
            : `failing ${health.failures}/${check.retries}: ${health.detail}`,
      }),
      // Exactly when the next probe is due, so probes keep their interval.
      requeueAfterMs: Math.max(1, health.nextProbe - Date.now()),
    };
  }

  async function reconcileWorkload(
    id: string,
    spec: Spec,
    observed: ObservedWorkload[] | undefined,
  ): Promise<ReconcileOutcome> {
    if (spec.healthCheck && !driver.probe) {
      throw new TerminalError(
        `${kindName} ${id}: the ${driver.name} driver cannot run health checks: remove healthCheck from the spec`,
      );
    }
    const hash = canonicalHash(spec);
    const workloads = [...(observed ?? [])].sort(
      (a, b) => (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0),
    );
    // Keep one: the newest with the desired hash, else the newest; leftovers go.
    const keep = workloads.find((w) => w.labels[LABEL_SPEC_HASH] === hash) ?? workloads[0];
    for (const extra of workloads) if (extra !== keep) await driver.remove(extra.id);

    if (!keep) return launch(id, spec, hash, undefined, "created");
    if (keep.labels[LABEL_SPEC_HASH] !== hash) {
      track(id).crashes = 0;
      return launch(id, spec, hash, keep, "spec changed");
    }
    switch (keep.state) {
      case "created": {
        const started = await restart(id, spec, hash, keep);
        if (!started) return lookAgainSoon(keep);
        return { changed: true, details: details(started, { reason: "started" }) };
      }
      case "pending":
        return lookAgainSoon(keep);
      case "exited":
        return exited(id, spec, hash, keep);
      case "running":
        return running(id, spec, hash, keep);
    }
  }

  return defineKind({
    name: kindName,
    specSchema: driver.specSchema,
    reconciler: {
      observe: async (id: string) => driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: id }),

      async reconcile({ id, spec }, observed) {
        try {
          return await reconcileWorkload(id, spec, observed);
        } catch (err) {
          // A driver error no retry can fix (a refused spec, a missing image) fails terminally;
          // the controller's resync still looks again, so loading the image repairs it.
          if ((err as { terminal?: unknown }).terminal === true && !(err instanceof TerminalError))
            throw new TerminalError((err as Error).message, { cause: err });
          throw err;
        }
      },

      async delete(id: string, spec: Spec | undefined) {
        const grace = spec ? durationMs(spec.stopGracePeriod) : 10_000;
        for (const w of await driver.list({ [LABEL_OWNER]: owner, [LABEL_RESOURCE]: id })) {
          await driver.stop(w.id, grace);
          await driver.remove(w.id);
        }
        tracking.delete(id);
      },

      async list() {
        const ids = new Set<string>();
        for (const w of await driver.list({ [LABEL_OWNER]: owner })) {
          const id = w.labels[LABEL_RESOURCE];
          if (id) ids.add(id);
        }
        return [...ids];
      },
    },
  });
}
