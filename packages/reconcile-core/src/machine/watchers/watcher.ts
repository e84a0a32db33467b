import type { z } from "zod";
import type { KvStore } from "../../kv/kv-store.js";
import type { Logger } from "../../logging/logger.js";
import type { MachineData } from "../data-store.js";
import type { WatcherSpec } from "../spec.js";

/** What one watcher run found. `unchanged` and `skipped` fire nothing. */
export type WatcherOutcome = "success" | "fail" | "error" | "unchanged" | "skipped";

export interface WatcherRun {
  outcome: WatcherOutcome;
  /** A transition to fire instead of the watcher's success/fail transition (nagios: OK, WARNING, ...). */
  transition?: string;
  /** The outcome in the type's own words, announced as `previous_outcome` (archive: `verified`, `downloaded`, `error`). */
  state?: string;
  /** Type-specific fields of the watcher state event: command, output, perfdata, ... */
  details: Record<string, unknown>;
}

/** The machine as one of its watchers sees it. */
export interface WatcherContext {
  machine: {
    name: string;
    version: string;
    identity: string;
    instanceId: string;
    directory: string;
  };
  spec: WatcherSpec;
  data: MachineData;
  facts(): Record<string, unknown>;
  /** Renders `{{ lookup "data.x" "default" }}` templates against the machine's data and facts. */
  render(text: string): string;
  /** The KV store of a bucket, when the host provides KV (the kv watcher needs it). */
  kv(bucket: string): KvStore | undefined;
  log: Logger;
  /** For event-driven watchers: report a result; the runtime announces it and fires its transition. */
  report(run: WatcherRun): void;
  /** Whether the watcher should act now: its states match and its foreign states hold. */
  active(): boolean;
}

/**
 * A running watcher. Polled types implement `run` (the runtime calls it on entering a matching
 * state and every interval, never two at once); event-driven types implement `activeChanged`
 * and call `report` themselves.
 */
export interface Watcher {
  run?(signal: AbortSignal): Promise<WatcherRun>;
  /** Called at start and after every state change, with whether the watcher is active now. */
  activeChanged?(active: boolean): void;
  stop(): void | Promise<void>;
}

/** A watcher type: its name, the zod schema of its properties, and how to make one. */
export interface WatcherType<P = unknown> {
  type: string;
  properties: z.ZodType<P>;
  /** Polled types run this often unless the watcher sets `interval`; event-driven types have none. */
  defaultIntervalMs?: number;
  /** Checks beyond the schema (e.g. the transitions a type fires); returns problems, if any. */
  validate?(spec: WatcherSpec, properties: P, transitions: ReadonlySet<string>): string[];
  /** One short human phrase for a run's details, e.g. `command: ./deploy.sh`. */
  summarize?(details: Record<string, unknown>): string;
  /**
   * True for types that run commands, or deploy what they fetch (archive): a machine from a
   * remote source may use them only where remote exec is allowed (ADR 005).
   */
  runsCommands?: boolean;
  /** Properties Choria's watcher of this type reads that this one does not implement: ignored with a warning. */
  choriaOnlyProperties?: readonly string[];
  create(ctx: WatcherContext, properties: P): Watcher;
}

/** A watcher type of any property type, as a registry holds them. */
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous list of types cannot name one property type
export type AnyWatcherType = WatcherType<any>;

export function defineWatcherType<S extends z.ZodType>(type: {
  type: string;
  properties: S;
  defaultIntervalMs?: number;
  validate?(spec: WatcherSpec, properties: z.infer<S>, transitions: ReadonlySet<string>): string[];
  summarize?(details: Record<string, unknown>): string;
  runsCommands?: boolean;
  choriaOnlyProperties?: readonly string[];
  create(ctx: WatcherContext, properties: z.infer<S>): Watcher;
}): WatcherType<z.infer<S>> {
  return type as WatcherType<z.infer<S>>;
}
