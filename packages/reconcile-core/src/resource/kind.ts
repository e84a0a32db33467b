import type { z } from "zod";
import type { Logger } from "../logging/logger.js";
import type { Resource } from "./manifest.js";

export interface ReconcileContext {
  /** Aborted when the controller stops or the resource is superseded. */
  signal: AbortSignal;
  log: Logger;
  /** Generation of the manifest the resource comes from. */
  generation: number;
}

/** What a successful reconcile reports. */
export interface ReconcileOutcome {
  /** True when the reconciler had to act (create, repair drift). Unchanged = already converged. */
  changed?: boolean;
  /** Shown in the resource's Ready status. */
  details?: Record<string, unknown>;
  /** Reconcile again after this long even without a resync (e.g. waiting for a health check). */
  requeueAfterMs?: number;
  /**
   * Started but not finished (a script still running): the resource stays Reconciling with
   * `details`, its generation is not observed yet, and it is reconciled again after
   * `requeueAfterMs` (the backoff base when absent). Lets long work return instead of waiting.
   */
  progressing?: boolean;
}

/**
 * Per kind: observe what is there, make it match the spec, remove it. Level-based and
 * idempotent by contract: `reconcile` is called with a fresh observation every time and must
 * be safe to call again; it never retries or sleeps on its own (the controller does that).
 */
export interface Reconciler<Spec, Observed = unknown> {
  /**
   * Reads the actual state of `id`; `undefined` when it does not exist. `desired` (the
   * controller always passes it) says where to look when the spec decides, e.g. a file's path.
   */
  observe(
    id: string,
    ctx: ReconcileContext,
    desired?: Resource<Spec>,
  ): Promise<Observed | undefined>;
  /** Makes the actual state match `resource.spec`. Throw to fail (a `TerminalError` is not retried). */
  reconcile(
    resource: Resource<Spec>,
    observed: Observed | undefined,
    ctx: ReconcileContext,
  ): Promise<ReconcileOutcome | undefined>;
  /** Removes `id`; `spec` is the last spec applied, when known. Deleting what is gone succeeds. */
  delete(id: string, spec: Spec | undefined, ctx: ReconcileContext): Promise<void>;
  /** Ids this reconciler manages that exist now (e.g. by owner label), so a restarted controller can collect orphans. */
  list?(ctx: ReconcileContext): Promise<string[]>;
}

/** A registered kind of resource: a name, the zod schema of its spec, and its reconciler. */
export interface ResourceKind<Spec = unknown, Observed = unknown> {
  name: string;
  /** Validates `resource.spec` values; named apart from them on purpose. */
  specSchema: z.ZodType<Spec>;
  reconciler: Reconciler<Spec, Observed>;
}

/** Types a kind from its spec schema; a helper so call sites need no explicit generics. */
export function defineKind<S extends z.ZodType, Observed = unknown>(kind: {
  name: string;
  specSchema: S;
  reconciler: Reconciler<z.infer<S>, Observed>;
}): ResourceKind<z.infer<S>, Observed> {
  return kind as ResourceKind<z.infer<S>, Observed>;
}

/** An error that retrying cannot fix (invalid spec, refused by policy): the resource fails without `retryAt`. */
export class TerminalError extends Error {
  override name = "TerminalError";
}

/** A failure whose retry time the reconciler knows (a crash loop's own backoff): the controller retries after `retryAfterMs`. */
export class RetryAfterError extends Error {
  override name = "RetryAfterError";
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** A kind of any spec type, as a registry holds them. */
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of kinds cannot name one spec type
export type AnyResourceKind = ResourceKind<any, any>;

/** Kinds by name. Registering a name twice is a programming error and throws. */
export class KindRegistry {
  readonly #kinds = new Map<string, ResourceKind<unknown, unknown>>();

  constructor(kinds: Iterable<AnyResourceKind> = []) {
    for (const kind of kinds) this.register(kind);
  }

  register<Spec, Observed>(kind: ResourceKind<Spec, Observed>): this {
    if (this.#kinds.has(kind.name))
      throw new Error(`resource kind '${kind.name}' is registered twice`);
    this.#kinds.set(kind.name, kind as unknown as ResourceKind<unknown, unknown>);
    return this;
  }

  get(name: string): ResourceKind<unknown, unknown> | undefined {
    return this.#kinds.get(name);
  }

  names(): string[] {
    return [...this.#kinds.keys()];
  }
}
