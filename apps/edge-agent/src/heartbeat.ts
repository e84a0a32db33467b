import { arch, freemem, hostname, loadavg, platform, totalmem } from "node:os";
import { type ManifestStatus, encodeJson, type KvStore, type Logger } from "@org/reconcile-core";
import { type Heartbeat, heartbeatKey } from "./fleet.js";

export interface HeartbeatSenderOptions {
  agent: string;
  version: string;
  store: KvStore;
  intervalMs: number;
  /** The agent's status at the moment of the beat. */
  status: () => ManifestStatus;
  /** When the controller last reported a reconcile, if ever. */
  lastReconcileAt: () => string | undefined;
  /** Called after each heartbeat written (the agent counts them). */
  onSent?: () => void;
  log: Logger;
  startedAt?: Date;
  now?: () => Date;
}

/** The heartbeat of `agent` at `at`: what the fleet view shows per agent, and the host it runs on. */
export function heartbeatOf(input: {
  agent: string;
  version: string;
  startedAt: Date;
  at: Date;
  status: ManifestStatus;
  lastReconcileAt?: string | undefined;
}): Heartbeat {
  const states = Object.values(input.status.resources);
  return {
    agent: input.agent,
    version: input.version,
    startedAt: input.startedAt.toISOString(),
    at: input.at.toISOString(),
    uptimeSeconds: Math.round((input.at.getTime() - input.startedAt.getTime()) / 1000),
    ...(input.lastReconcileAt ? { lastReconcileAt: input.lastReconcileAt } : {}),
    manifestGeneration: input.status.manifestGeneration,
    observedGeneration: input.status.observedGeneration,
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
}

/**
 * Writes `heartbeat.<agent>` on its own timer, independent of reconciling: one at start, then
 * every interval. At most one write is in flight, so heartbeats do not pile up while the
 * store is unreachable; a failed one is dropped and the next tick tries again.
 */
export class HeartbeatSender {
  readonly #options: HeartbeatSenderOptions;
  readonly #startedAt: Date;
  readonly #now: () => Date;
  #timer?: NodeJS.Timeout;
  #pending = false;

  constructor(options: HeartbeatSenderOptions) {
    this.#options = options;
    this.#startedAt = options.startedAt ?? new Date();
    this.#now = options.now ?? (() => new Date());
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.beat(), this.#options.intervalMs);
    this.#timer.unref();
    void this.beat();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Writes one heartbeat now; false when one was already in flight or the write failed. */
  async beat(): Promise<boolean> {
    if (this.#pending) return false;
    this.#pending = true;
    const o = this.#options;
    try {
      const heartbeat = heartbeatOf({
        agent: o.agent,
        version: o.version,
        startedAt: this.#startedAt,
        at: this.#now(),
        status: o.status(),
        lastReconcileAt: o.lastReconcileAt(),
      });
      await o.store.put(heartbeatKey(o.agent), encodeJson(heartbeat));
      o.onSent?.();
      return true;
    } catch (err) {
      o.log.debug({ error: (err as Error).message }, "heartbeat not sent");
      return false;
    } finally {
      this.#pending = false;
    }
  }
}
