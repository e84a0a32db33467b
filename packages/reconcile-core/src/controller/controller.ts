import type { EventType } from "../bus/cloudevent.js";
import type { EventBus } from "../bus/event-bus.js";
import { subjectToken } from "../bus/subject.js";
import { canonicalHash } from "../canonical/canonical.js";
import { formatIssues } from "../errors.js";
import { type Logger, silentLogger } from "../logging/logger.js";
import {
  type KindRegistry,
  type ReconcileContext,
  type ReconcileOutcome,
  type ResourceKind,
  RetryAfterError,
  TerminalError,
} from "../resource/kind.js";
import { type Manifest, parseManifest, type Resource } from "../resource/manifest.js";
import type {
  ManifestStatus,
  Condition,
  ConditionType,
  ResourceStatus,
} from "../resource/status.js";
import { type BackoffPolicy, backoffDelay, defaultBackoff } from "./backoff.js";
import { evaluateConditions, stampConditions } from "./conditions.js";
import { diffResources, type Fingerprint } from "./diff.js";
import {
  driftCorrectedEvent,
  generationObservedEvent,
  resourceStatusEvent,
  rollbackEvent,
} from "./events.js";
import { WorkQueue } from "./work-queue.js";

/** What to do when a generation keeps failing. */
export type FailurePolicy =
  | { type: "retry" }
  /** After `afterFailures` consecutive failures of one resource, go back to the last generation that fully converged. */
  | { type: "rollback"; afterFailures: number };

export interface ControllerOptions {
  kinds: KindRegistry;
  /** Resources reconciled at once. Default 16. */
  concurrency?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Every resource is re-observed this often to catch drift; 0 turns resync off. Default 60 s. */
  resyncIntervalMs?: number;
  failurePolicy?: FailurePolicy;
  /** Status updates are coalesced: at most one per this many ms, always the latest. Default 100. */
  statusIntervalMs?: number;
  log?: Logger;
  /** Where resource and generation events go, under `<subjectPrefix>.<event>.<kind>.<id>`. */
  events?: { bus: EventBus; source: string; subjectPrefix: string };
  random?: () => number;
}

export type ApplyResult =
  | { applied: true; generation: number }
  | { applied: false; reason: string };

type StatusListener = (status: ManifestStatus) => void;

interface ManagedResource {
  id: string;
  kind: string;
  /** The desired resource; absent once the manifest dropped it and it awaits deletion. */
  desired?: Resource<unknown>;
  hash: string;
  generation: number;
  status: ResourceStatus;
  failures: number;
  /** Spec and hash of the last successful reconcile: the delete argument and the drift baseline. */
  converged?: { spec: unknown; hash: string };
  /** Set when the spec is invalid or the kind unknown: nothing to retry until a new generation. */
  blocked: boolean;
  /** Failed by a TerminalError with this spec: resyncs still look, but that is no retry. */
  terminal?: boolean;
}

/**
 * The reconcile loop: applies manifests, diffs desired against managed resources by id,
 * reconciles through each kind's reconciler with bounded concurrency and per-resource
 * backoff, re-observes everything periodically to repair drift, and aggregates an
 * `ManifestStatus` that it publishes coalesced.
 */
export class Controller {
  readonly #kinds: KindRegistry;
  readonly #backoff: BackoffPolicy;
  readonly #resyncIntervalMs: number;
  readonly #failurePolicy: FailurePolicy;
  readonly #statusIntervalMs: number;
  readonly #log: Logger;
  readonly #events: ControllerOptions["events"];
  readonly #random: () => number;
  readonly #queue: WorkQueue;
  readonly #resources = new Map<string, ManagedResource>();
  /** Ids of the applied generation that have not finished their first reconcile. */
  readonly #pending = new Set<string>();
  readonly #listeners = new Set<StatusListener>();
  readonly #abort = new AbortController();

  /** Resources per state, kept as statuses change, so convergence checks cost O(1). */
  readonly #counts: Record<ResourceStatus["state"], number> = {
    Pending: 0,
    Reconciling: 0,
    Ready: 0,
    Failed: 0,
    Unknown: 0,
  };
  #manifestGeneration = 0;
  #received?: Manifest;
  #observedGeneration = 0;
  #applied?: Manifest;
  #lastConverged?: Manifest;
  #rolledBack?: { from: number; to: number; reason: string };
  #conditions = new Map<ConditionType, Condition>();
  #statusTimer?: NodeJS.Timeout;
  #lastStatusAt = 0;
  #resyncTimer?: NodeJS.Timeout;
  #started = false;
  readonly #listFailing = new Set<string>();

  constructor(options: ControllerOptions) {
    this.#kinds = options.kinds;
    this.#backoff = { ...defaultBackoff, ...options.backoff };
    this.#resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.#failurePolicy = options.failurePolicy ?? { type: "retry" };
    this.#statusIntervalMs = options.statusIntervalMs ?? 100;
    this.#log = options.log ?? silentLogger;
    this.#events = options.events;
    this.#random = options.random ?? Math.random;
    this.#queue = new WorkQueue(options.concurrency ?? 16, (id) => this.#process(id));
  }

  /** Starts the resync timer and collects orphans the reconcilers report. Applying works before start. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    if (this.#resyncIntervalMs > 0) {
      this.#resyncTimer = setInterval(() => void this.resync(), this.#resyncIntervalMs);
      this.#resyncTimer.unref();
    }
    void this.#collectOrphans();
  }

  /** Stops reconciling; in-flight reconciles see their signal aborted. */
  stop(): void {
    this.#abort.abort();
    this.#queue.stop();
    clearInterval(this.#resyncTimer);
    clearTimeout(this.#statusTimer);
  }

  /**
   * Makes `manifest` the desired state. Refused (with the reason) when it is invalid, or older
   * than what was already received; a redelivery of the same generation and content is a no-op.
   */
  apply(input: Manifest | unknown): ApplyResult {
    const parsed = parseManifest(input);
    if (!parsed.ok) return { applied: false, reason: parsed.error.message };
    const manifest = parsed.manifest;
    if (this.#applied && manifest.generation <= this.#manifestGeneration) {
      if (
        manifest.generation === this.#manifestGeneration &&
        canonicalHash(manifest) === canonicalHash(this.#received)
      ) {
        return { applied: true, generation: manifest.generation };
      }
      return {
        applied: false,
        reason: `generation ${manifest.generation} is not newer than generation ${this.#manifestGeneration}, already received`,
      };
    }
    this.#received = manifest;
    this.#manifestGeneration = manifest.generation;
    this.#rolledBack = undefined;
    this.#install(manifest);
    return { applied: true, generation: manifest.generation };
  }

  /** Queues every managed resource for a fresh observe + reconcile (drift check), and collects orphans. */
  async resync(): Promise<void> {
    for (const r of this.#resources.values()) {
      if (!r.blocked && !this.#queue.isDelayed(r.id)) this.#queue.add(r.id);
    }
    await this.#collectOrphans();
  }

  /**
   * Reconciles `id` now (an event says it changed, e.g. its container died), unless it waits
   * on a failure's backoff; a plain requeue (a poll of work in progress, the next health check)
   * is brought forward. Returns false when the id is not managed.
   */
  reconcileNow(id: string): boolean {
    const r = this.#resources.get(id);
    if (!r) return false;
    const backingOff = r.status.state === "Failed" && this.#queue.isDelayed(id);
    if (!r.blocked && !backingOff) this.#queue.add(id);
    return true;
  }

  /** Resolves when no reconcile is queued or running (retries and requeues waiting on a delay do not count). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** The current status, built now. */
  status(): ManifestStatus {
    const resources: Record<string, ResourceStatus> = {};
    for (const r of this.#resources.values()) resources[r.id] = r.status;
    const now = new Date().toISOString();
    const conditions = stampConditions(
      evaluateConditions({
        resources: Object.entries(resources),
        pending: this.#pending.size,
        rolledBack: this.#rolledBack,
      }),
      this.#conditions,
      now,
    );
    this.#conditions = new Map(conditions.map((c) => [c.type, c]));
    return {
      manifestGeneration: this.#manifestGeneration,
      observedGeneration: this.#observedGeneration,
      resources,
      conditions,
    };
  }

  /** Calls `listener` with the latest status after changes, at most once per `statusIntervalMs`. */
  onStatus(listener: StatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The generation of the last manifest received (0 before any), without building a status. */
  get manifestGeneration(): number {
    return this.#manifestGeneration;
  }

  /** The last generation whose every resource reached Ready, if any. */
  get lastConvergedGeneration(): number | undefined {
    return this.#lastConverged?.generation;
  }

  #install(manifest: Manifest): void {
    this.#applied = manifest;
    const generation = manifest.generation;
    const desired = new Map<string, Resource<unknown>>();
    const wanted = new Map<string, Fingerprint>();
    for (const resource of manifest.resources) {
      desired.set(resource.id, resource);
      wanted.set(resource.id, {
        kind: resource.kind,
        hash: canonicalHash({ kind: resource.kind, spec: resource.spec }),
      });
    }
    const managed = new Map<string, Fingerprint>();
    for (const r of this.#resources.values())
      if (r.desired) managed.set(r.id, { kind: r.kind, hash: r.hash });

    const diff = diffResources(wanted, managed);
    this.#pending.clear();

    for (const id of diff.unchanged) {
      // Same spec: reconciled once more at the new generation (level-based; a kind may act on
      // the generation itself), without leaving Ready. A failing resource keeps its backoff.
      const r = this.#resources.get(id)!;
      r.generation = generation;
      const { status } = r;
      if (status.state === "Failed") this.#setStatus(r, { ...status, generation });
      else if (status.state !== "Unknown") {
        if (status.state === "Ready") this.#setStatus(r, { ...status, generation });
        this.#pending.add(id);
        this.#queue.add(id);
      }
    }
    for (const id of [...diff.create, ...diff.update]) {
      const resource = desired.get(id)!;
      const previous = this.#resources.get(id);
      // A different kind under the same id: remove the old thing first, through its own kind.
      if (previous && previous.kind !== resource.kind) void this.#deleteReplaced(previous);
      const r: ManagedResource = {
        id,
        kind: resource.kind,
        desired: resource,
        hash: wanted.get(id)!.hash,
        generation,
        status:
          previous?.kind === resource.kind
            ? previous.status
            : { state: "Pending", kind: resource.kind, since: now(), generation },
        failures: 0,
        converged: previous?.kind === resource.kind ? previous.converged : undefined,
        blocked: false,
      };
      if (previous) this.#counts[previous.status.state]--;
      this.#counts[r.status.state]++;
      this.#resources.set(id, r);
      this.#queue.forget(id);
      const kind = this.#kinds.get(resource.kind);
      if (!kind) {
        r.blocked = true;
        this.#setStatus(r, {
          state: "Unknown",
          kind: resource.kind,
          since: now(),
          reason: `unknown kind '${resource.kind}'`,
        });
        continue;
      }
      const spec = kind.specSchema.safeParse(resource.spec);
      if (!spec.success) {
        r.blocked = true;
        this.#setStatus(r, {
          state: "Failed",
          kind: resource.kind,
          since: now(),
          generation,
          attempts: 1,
          error: `invalid ${resource.kind} spec: ${formatIssues(spec.error)}`,
        });
        continue;
      }
      r.desired = { ...resource, spec: spec.data };
      this.#pending.add(id);
      const before = r.status;
      this.#queue.add(id);
      // Pending while it waits for a worker. One taken at once is Reconciling already (its
      // status changed), and a Pending in between would only be one more status event.
      if (r.status === before && before.state !== "Pending")
        this.#setStatus(r, { state: "Pending", kind: resource.kind, since: now(), generation });
    }
    for (const id of diff.delete) {
      const r = this.#resources.get(id)!;
      if (!this.#kinds.get(r.kind)) {
        // Of a kind this agent does not know: it never created anything, so nothing to delete.
        this.#resources.delete(id);
        this.#counts[r.status.state]--;
        continue;
      }
      r.desired = undefined;
      r.blocked = false;
      r.failures = 0;
      this.#queue.forget(id);
      this.#setStatus(r, { state: "Reconciling", kind: r.kind, since: now(), generation });
      this.#pending.add(id);
      this.#queue.add(id);
    }
    // Resources that were already blocked (unknown kind, invalid spec) and stay so are counted as observed.
    this.#checkGeneration();
    this.#statusChanged();
  }

  async #process(id: string): Promise<void> {
    const r = this.#resources.get(id);
    if (!r || r.blocked || this.#abort.signal.aborted) return;
    const kind = this.#kinds.get(r.kind);
    if (!kind) return;
    const ctx = this.#context(r);
    if (!r.desired) return this.#delete(r, kind, ctx);

    const desired = r.desired;
    const hash = r.hash;
    const wasConverged = r.status.state === "Ready" && r.converged?.hash === hash;
    // A terminal failure is looked at again by resyncs (a fix by hand is seen) but stays
    // Failed while it is: a check, not a retry.
    if (!wasConverged && !r.terminal && r.status.state !== "Reconciling") {
      this.#setStatus(r, {
        state: "Reconciling",
        kind: r.kind,
        since: now(),
        generation: r.generation,
      });
    }
    try {
      const observed = await kind.reconciler.observe(id, ctx, desired);
      const outcome = await kind.reconciler.reconcile(desired, observed, ctx);
      if (this.#superseded(r, hash)) return;
      if (outcome?.progressing) return this.#progressing(r, desired.spec, hash, outcome);
      r.failures = 0;
      r.terminal = false;
      r.converged = { spec: desired.spec, hash };
      if (!wasConverged) {
        this.#setStatus(r, {
          state: "Ready",
          kind: r.kind,
          since: now(),
          generation: r.generation,
          ...(outcome?.details ? { details: outcome.details } : {}),
        });
      } else if (
        outcome?.details &&
        canonicalHash(outcome.details) !==
          canonicalHash(r.status.state === "Ready" ? (r.status.details ?? {}) : {})
      ) {
        this.#setStatus(r, { ...r.status, details: outcome.details } as ResourceStatus);
      }
      if (wasConverged && outcome?.changed) {
        this.#log.info({ resource: id, kind: r.kind }, "drift corrected");
        this.#emit(driftCorrectedEvent, { id, kind: r.kind, generation: r.generation }, "drift", r);
      }
      if (outcome?.requeueAfterMs !== undefined) this.#queue.addAfter(id, outcome.requeueAfterMs);
      this.#observed(id);
    } catch (err) {
      if (this.#superseded(r, hash)) return;
      this.#failed(r, err);
    }
  }

  /**
   * Work under way: stays Reconciling (so neither Ready nor observed for its generation, per
   * ADR 003) and is looked at again later; a worker slot is not held meanwhile.
   */
  #progressing(r: ManagedResource, spec: unknown, hash: string, outcome: ReconcileOutcome): void {
    // Something was acted on: a delete (or a replacement by another kind) must get this spec.
    r.converged = { spec, hash };
    const status: ResourceStatus = {
      state: "Reconciling",
      kind: r.kind,
      since: r.status.state === "Reconciling" ? r.status.since : now(),
      generation: r.generation,
      ...(outcome.details ? { details: outcome.details } : {}),
    };
    // A poll that saw no change publishes nothing.
    if (canonicalHash(status) !== canonicalHash(r.status)) this.#setStatus(r, status);
    this.#queue.addAfter(r.id, outcome.requeueAfterMs ?? this.#backoff.baseMs);
  }

  async #delete(
    r: ManagedResource,
    kind: ResourceKind<unknown, unknown>,
    ctx: ReconcileContext,
  ): Promise<void> {
    try {
      await kind.reconciler.delete(r.id, r.converged?.spec, ctx);
      if (this.#resources.get(r.id) !== r || r.desired) return;
      this.#resources.delete(r.id);
      this.#counts[r.status.state]--;
      this.#statusChanged();
      this.#observed(r.id);
    } catch (err) {
      if (this.#resources.get(r.id) !== r || r.desired) return;
      this.#failed(r, err, "delete failed: ");
    }
  }

  /** Removes what a resource of another kind left under an id that now has a new kind. */
  async #deleteReplaced(previous: ManagedResource): Promise<void> {
    const kind = this.#kinds.get(previous.kind);
    if (!kind || !previous.converged) return;
    try {
      await kind.reconciler.delete(previous.id, previous.converged.spec, this.#context(previous));
    } catch (err) {
      this.#log.warn(
        { err, resource: previous.id, kind: previous.kind },
        "could not remove the resource replaced by another kind",
      );
    }
  }

  /** What a reconciler is handed. Its logger is made on first use: most reconciles log nothing. */
  #context(r: ManagedResource): ReconcileContext {
    const parent = this.#log;
    let log: Logger | undefined;
    return {
      signal: this.#abort.signal,
      get log() {
        log ??= parent.child({ resource: r.id, kind: r.kind });
        return log;
      },
      generation: r.generation,
    };
  }

  /** True when the resource was replaced or its spec changed while a reconcile of the old one ran. */
  #superseded(r: ManagedResource, hash: string): boolean {
    return this.#resources.get(r.id) !== r || r.hash !== hash || !r.desired;
  }

  #failed(r: ManagedResource, err: unknown, prefix = ""): void {
    const terminal = err instanceof TerminalError;
    const message = prefix + (err instanceof Error ? err.message : String(err));
    if (terminal && r.terminal && r.status.state === "Failed") {
      // A resync's look at a resource that failed terminally: attempts count retries, and
      // there was none. Only a different error is news.
      if (r.status.error !== message) this.#setStatus(r, { ...r.status, error: message });
      this.#observed(r.id);
      return;
    }
    r.failures++;
    r.terminal = terminal;
    const delay = terminal
      ? 0
      : err instanceof RetryAfterError
        ? err.retryAfterMs
        : backoffDelay(this.#backoff, r.failures, this.#random);
    this.#setStatus(r, {
      state: "Failed",
      kind: r.kind,
      since: r.status.state === "Failed" ? r.status.since : now(),
      generation: r.generation,
      error: message,
      attempts: r.failures,
      ...(terminal ? {} : { retryAt: new Date(Date.now() + delay).toISOString() }),
    });
    this.#log.warn(
      {
        resource: r.id,
        kind: r.kind,
        attempts: r.failures,
        retryInMs: terminal ? undefined : delay,
        error: message,
      },
      "reconcile failed",
    );
    if (!terminal) this.#queue.addAfter(r.id, delay);
    this.#observed(r.id);
    this.#maybeRollBack(r, message);
  }

  #maybeRollBack(r: ManagedResource, message: string): void {
    const policy = this.#failurePolicy;
    if (policy.type !== "rollback" || r.failures < policy.afterFailures) return;
    const good = this.#lastConverged;
    const applied = this.#applied;
    if (!good || !applied || good.generation === applied.generation) return;
    const reason = `resource '${r.id}' failed ${r.failures} times in a row: ${message}`;
    this.#log.warn(
      { from: applied.generation, to: good.generation, reason },
      "rolling back to the last converged generation",
    );
    this.#rolledBack = { from: applied.generation, to: good.generation, reason };
    this.#emit(rollbackEvent, this.#rolledBack, "rollback");
    const rolledBack = this.#rolledBack;
    this.#install(good);
    this.#rolledBack = rolledBack;
  }

  /** A resource finished its first reconcile (or delete) of the applied generation. */
  #observed(id: string): void {
    if (this.#pending.delete(id)) this.#checkGeneration();
  }

  #checkGeneration(): void {
    const applied = this.#applied;
    if (!applied || this.#pending.size > 0) return;
    if (this.#observedGeneration !== this.#manifestGeneration) {
      this.#observedGeneration = this.#manifestGeneration;
      const data = {
        generation: applied.generation,
        ready: this.#counts.Ready,
        failed: this.#counts.Failed,
      };
      this.#emit(generationObservedEvent, data, "generation");
      this.#statusChanged();
    }
    this.#checkConverged();
  }

  #checkConverged(): void {
    const applied = this.#applied;
    if (!applied || this.#pending.size > 0 || this.#counts.Ready !== this.#resources.size) return;
    this.#lastConverged = applied;
  }

  #setStatus(r: ManagedResource, status: ResourceStatus): void {
    if (this.#resources.get(r.id) === r) {
      this.#counts[r.status.state]--;
      this.#counts[status.state]++;
    }
    r.status = status;
    this.#emit(resourceStatusEvent, { id: r.id, status }, "status", r);
    if (status.state === "Ready") this.#checkConverged();
    this.#statusChanged();
  }

  /** Coalesces status changes: one publication per interval, built when it is sent, so never stale. */
  #statusChanged(): void {
    if (this.#statusTimer || this.#listeners.size === 0) return;
    const wait = Math.max(0, this.#lastStatusAt + this.#statusIntervalMs - Date.now());
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      this.#lastStatusAt = Date.now();
      const status = this.status();
      for (const listener of this.#listeners) {
        try {
          listener(status);
        } catch (err) {
          this.#log.warn({ err }, "status listener failed");
        }
      }
    }, wait);
  }

  #emit<T>(type: EventType<T>, data: T, name: string, r?: ManagedResource): void {
    const events = this.#events;
    if (!events) return;
    const subject = r
      ? `${events.subjectPrefix}.${name}.${subjectToken(r.kind)}.${subjectToken(r.id)}`
      : `${events.subjectPrefix}.${name}`;
    events.bus.publish(
      subject,
      type.create({ source: events.source, data, ...(r ? { subject: r.id } : {}) }),
    );
  }

  /** Deletes what reconcilers report as theirs but no manifest names; only once a manifest is applied. */
  async #collectOrphans(): Promise<void> {
    if (!this.#applied) return;
    for (const name of this.#kinds.names()) {
      const kind = this.#kinds.get(name)!;
      if (!kind.reconciler.list) continue;
      let ids: string[];
      try {
        ids = await kind.reconciler.list({
          signal: this.#abort.signal,
          log: this.#log,
          generation: this.#manifestGeneration,
        });
      } catch (err) {
        // Said once per outage (a device without Docker would say it every resync otherwise).
        if (!this.#listFailing.has(name)) {
          this.#listFailing.add(name);
          this.#log.warn(
            { err, kind: name },
            "listing managed resources failed; orphans are collected once it works again",
          );
        }
        continue;
      }
      this.#listFailing.delete(name);
      for (const id of ids) {
        if (this.#resources.has(id) || !this.#applied) continue;
        const orphan: ManagedResource = {
          id,
          kind: name,
          hash: "",
          generation: this.#manifestGeneration,
          status: {
            state: "Reconciling",
            kind: name,
            since: now(),
            generation: this.#manifestGeneration,
          },
          failures: 0,
          blocked: false,
        };
        this.#resources.set(id, orphan);
        this.#counts.Reconciling++;
        this.#log.info({ resource: id, kind: name }, "collecting orphan");
        this.#queue.add(id);
      }
    }
  }
}

const now = () => new Date().toISOString();
