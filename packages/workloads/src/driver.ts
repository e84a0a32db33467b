import type { z } from "zod";
import type { HealthCheck, LifecycleSpec } from "./lifecycle.js";

/**
 * Labels every managed workload carries. A flat string map with these few keys, so every
 * backend can hold it: Docker keeps them as container labels, the process driver in its
 * record file, ECS maps the owner to RunTask `startedBy` and the others to task tags.
 */
export const LABEL_OWNER = "org.reconcile.owner";
export const LABEL_RESOURCE = "org.reconcile.resource";
export const LABEL_SPEC_HASH = "org.reconcile.spec-hash";

export type Labels = Record<string, string>;

/**
 * A workload's life, normalised across backends: `created` (exists but was never started, e.g.
 * its owner died between create and start: the kind starts it), `pending` (starting, pulling,
 * provisioning), `running`, `exited` (stopped, dead, failed to start; `exitCode` says how).
 */
export type WorkloadState = "created" | "pending" | "running" | "exited";

/** What a driver reports of one workload: only what the kind decides on, plus details for status. */
export interface ObservedWorkload {
  /** The backend's id (container id, supervisor pid file base, task ARN). */
  id: string;
  name: string;
  state: WorkloadState;
  /** Set once `exited`; a workload that left no code (killed, lost) reports 137. */
  exitCode?: number;
  startedAt?: Date;
  finishedAt?: Date;
  labels: Labels;
  /** Backend facts worth showing in the resource's status (ports, pid, image, stoppedReason). */
  details: Record<string, unknown>;
}

/** What `create` starts. `idempotencyKey` is the same when a create is retried for the same launch, and differs for every new launch (ECS `clientToken`). */
export interface CreateRequest<Spec> {
  name: string;
  spec: Spec;
  labels: Labels;
  idempotencyKey: string;
}

export interface ProbeResult {
  healthy: boolean;
  detail: string;
}

/** A change the backend pushes; the kind's owner turns it into an immediate reconcile. */
export interface WorkloadEvent {
  action: "started" | "exited" | "removed" | "other";
  id: string;
  labels: Labels;
}

/**
 * A workload backend (Docker, local process, AWS ECS). Small on purpose: the workload kind
 * owns drift, restarts, crash-loop backoff and health; a driver only creates, observes and
 * stops. Methods never retry or sleep beyond one backend call; "already gone" is success
 * for `stop` and `remove`.
 */
export interface WorkloadDriver<Spec extends LifecycleSpec = LifecycleSpec> {
  /** Short backend name for status and errors: "docker", "process", "ecs". */
  readonly name: string;
  /** The driver's spec schema; it extends `LifecycleSpecSchema`. */
  readonly specSchema: z.ZodType<Spec>;
  /** Makes a spec launchable before the old workload is stopped (Docker: the image is present). */
  prepare?(spec: Spec): Promise<void>;
  /** Creates and starts a workload; returns it as observed right after the start. */
  create(request: CreateRequest<Spec>): Promise<ObservedWorkload>;
  inspect(id: string): Promise<ObservedWorkload | undefined>;
  /** Workloads carrying every one of `labels` (always including the owner label), running or not. */
  list(labels: Labels): Promise<ObservedWorkload[]>;
  /** Asks it to stop, and forces it after `graceMs`. */
  stop(id: string, graceMs: number): Promise<void>;
  /** Forgets it (force-stopping it when it still runs). */
  remove(id: string): Promise<void>;
  /**
   * Starts an exited workload again in place, when the backend can; else the kind recreates it.
   * Returns false when this workload can no longer start because it is going away (removed by
   * hand meanwhile): the kind then waits for it to go and creates a new one.
   */
  restart?(workload: ObservedWorkload, spec: Spec): Promise<boolean>;
  /** Output so far, stdout and stderr apart. */
  logs(id: string, options?: { tail?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Streams changes to workloads carrying `labels` until `signal` aborts, where the backend has events. */
  events?(labels: Labels, onEvent: (e: WorkloadEvent) => void, signal: AbortSignal): Promise<void>;
  /** Runs one health check against a running workload; never throws (a failure to probe is unhealthy). Absent: the backend cannot probe. */
  probe?(workload: ObservedWorkload, check: HealthCheck, spec: Spec): Promise<ProbeResult>;
}
