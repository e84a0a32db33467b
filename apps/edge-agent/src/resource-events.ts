import { KindRegistry, type AnyResourceKind, type Logger } from "@org/reconcile-core";

/**
 * A stream of outside changes to a kind's resources (Docker's container events): it calls
 * `reconcileNow(id)` for each resource that changed, until `signal` aborts, and retries a
 * failed stream itself. It carries only the id; the reconciler re-reads the resource.
 */
export type ResourceEvents = (
  reconcileNow: (id: string) => void,
  signal: AbortSignal,
) => Promise<void>;

/** The agent's kinds, plus the event streams of those that have one. */
export class AgentKindRegistry extends KindRegistry {
  readonly #events: ResourceEvents[];
  readonly #log: Logger;

  constructor(kinds: Iterable<AnyResourceKind>, events: ResourceEvents[], log: Logger) {
    super(kinds);
    this.#events = events;
    this.#log = log;
  }

  /** Starts every event stream; returns the function that stops them. */
  watch(reconcileNow: (id: string) => void): () => void {
    const abort = new AbortController();
    for (const stream of this.#events)
      stream(reconcileNow, abort.signal).catch((err: unknown) =>
        this.#log.warn({ error: (err as Error).message }, "a resource event stream ended"),
      );
    return () => abort.abort();
  }
}
