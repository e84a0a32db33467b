import { randomUUID } from "node:crypto";
import type { EventBus } from "../bus/event-bus.js";
import type { KvStore } from "../kv/kv-store.js";
import { type Logger, silentLogger } from "../logging/logger.js";
import { abortableDelay } from "../util/delay.js";
import { MachineData } from "./data-store.js";
import { durationMs } from "./duration.js";
import {
  defaultLoopGuard,
  type LoopGuardPolicy,
  type LoopGuardState,
  loopGuardDelay,
  nextState,
  type TransitionResult,
} from "./fsm.js";
import {
  machineSubject,
  machineTransitionEvent,
  machineTransitionIgnoredEvent,
  watcherStateEvent,
} from "./events.js";
import type { MachineDefinition } from "./load.js";
import type { WatcherSpec } from "./spec.js";
import { renderTemplate } from "./template.js";
import type { Watcher, WatcherRun, WatcherType } from "./watchers/watcher.js";

/** The other machines on this node, for `foreign_state_required` and `subscribe`. */
export interface LocalMachines {
  state(machine: string): string | undefined;
  /** Calls `listener` after the local machine `machine` transitions. */
  onTransition(machine: string, listener: (transition: string, to: string) => void): () => void;
}

export interface MachineRuntimeOptions {
  definition: MachineDefinition;
  /** The machine's directory: exec working directory, data store, relative paths. */
  directory: string;
  /** The node's identity, carried in every event. */
  identity: string;
  bus?: EventBus;
  kv?: (bucket: string) => KvStore | undefined;
  facts?: () => Record<string, unknown>;
  local?: LocalMachines;
  log?: Logger;
  loopGuard?: LoopGuardPolicy;
  /** Overrides `splay_start` (tests, benchmarks). */
  splayMs?: number;
}

interface WatcherSlot {
  spec: WatcherSpec;
  type: WatcherType;
  watcher: Watcher;
  intervalMs?: number;
  timer?: NodeJS.Timeout;
  announceTimer?: NodeJS.Timeout;
  running: boolean;
  rerun: boolean;
  active: boolean;
  last?: { run: WatcherRun; at: number; runTimeMs?: number; transition?: string };
}

/** What one transition did, for listeners. */
export interface MachineTransition {
  transition: string;
  from: string;
  to: string;
  at: Date;
  watcher?: string;
}

/**
 * Runs one machine: keeps its current state, runs the watchers whose `state_match` (and
 * foreign states) hold, turns their outcomes into transitions through the pure `nextState`,
 * slows runaway loops, and publishes every transition and watcher run as a CloudEvent.
 */
export class MachineRuntime {
  readonly instanceId = randomUUID();
  readonly name: string;
  readonly version: string;
  readonly directory: string;
  readonly identity: string;
  readonly data: MachineData;
  readonly #definition: MachineDefinition;
  readonly #bus?: EventBus;
  readonly #log: Logger;
  readonly #loopGuard: LoopGuardPolicy;
  readonly #options: MachineRuntimeOptions;
  readonly #slots: WatcherSlot[] = [];
  readonly #listeners = new Set<(t: MachineTransition) => void>();
  readonly #abort = new AbortController();
  #state: string;
  #guard: LoopGuardState = { lastAt: Number.NEGATIVE_INFINITY, burst: 0 };
  #transitions: Promise<unknown> = Promise.resolve();
  readonly #unsubscribeLocal: Array<() => void> = [];
  #started = false;

  constructor(options: MachineRuntimeOptions) {
    this.#options = options;
    this.#definition = options.definition;
    this.name = options.definition.spec.name;
    this.version = options.definition.spec.version;
    this.directory = options.directory;
    this.identity = options.identity;
    this.#state = options.definition.spec.initial_state;
    this.#bus = options.bus;
    this.#log = (options.log ?? silentLogger).child({ machine: this.name });
    this.#loopGuard = options.loopGuard ?? defaultLoopGuard;
    this.data = new MachineData(options.directory);
  }

  get state(): string {
    return this.#state;
  }

  /** Calls `listener` after every transition; returns the unsubscribe function. */
  onTransition(listener: (t: MachineTransition) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Waits `splay_start` (random 0..N s), then enters the initial state and starts the watchers. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const splayMs =
      this.#options.splayMs ?? Math.random() * (this.#definition.spec.splay_start ?? 0) * 1_000;
    if (splayMs > 0) {
      this.#log.info({ splayMs: Math.round(splayMs) }, "sleeping before start (splay_start)");
      await abortableDelay(splayMs, this.#abort.signal);
      if (this.#abort.signal.aborted) return;
    }
    for (const { spec, type, properties } of this.#definition.watchers) {
      const slot: WatcherSlot = {
        spec,
        type,
        watcher: undefined as unknown as Watcher,
        // Only polled types (those with `run`) use it; one without a default runs on state changes only.
        intervalMs: spec.interval ? durationMs(spec.interval) : type.defaultIntervalMs,
        running: false,
        rerun: false,
        active: false,
      };
      slot.watcher = type.create(this.#watcherContext(slot), properties);
      this.#slots.push(slot);
      if (spec.announce_interval) {
        slot.announceTimer = setInterval(
          () => this.#announce(slot),
          durationMs(spec.announce_interval),
        );
        slot.announceTimer.unref();
      }
    }
    // Listen only to the machines this one names (foreign states, subscriptions): a node with
    // many machines must not wake every machine on every transition.
    const local = this.#options.local;
    if (local) {
      for (const machine of this.#foreignMachines()) {
        this.#unsubscribeLocal.push(
          local.onTransition(machine, (transition) => this.#onLocalTransition(machine, transition)),
        );
      }
    }
    this.#log.info(
      { state: this.#state, version: this.version, directory: this.directory },
      "machine started",
    );
    this.#stateChanged();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    for (const unsubscribe of this.#unsubscribeLocal.splice(0)) unsubscribe();
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      clearInterval(slot.announceTimer);
      await slot.watcher.stop();
    }
    await this.data.flush();
  }

  /**
   * Requests a transition. Requests are handled one at a time, in order, each possibly delayed
   * by the loop guard; one that is not valid in the state the machine is in by then is ignored
   * and reported.
   */
  transition(
    event: string,
    cause: { watcher?: string; subscription?: string } = {},
  ): Promise<TransitionResult> {
    const next = this.#transitions.then(() => this.#transition(event, cause));
    this.#transitions = next.catch(() => undefined);
    return next;
  }

  async #transition(
    event: string,
    cause: { watcher?: string; subscription?: string },
  ): Promise<TransitionResult> {
    if (this.#abort.signal.aborted) return { ok: false, reason: "machine stopped" };
    const { delayMs, state } = loopGuardDelay(this.#loopGuard, this.#guard, Date.now());
    this.#guard = state;
    if (delayMs > 0) {
      this.#log.warn({ delayMs, transition: event }, "transitions are coming fast: slowing down");
      await abortableDelay(delayMs, this.#abort.signal);
      if (this.#abort.signal.aborted) return { ok: false, reason: "machine stopped" };
    }
    const result = nextState(this.#definition.spec, this.#state, event);
    if (!result.ok) {
      this.#log.warn(
        { transition: event, state: this.#state, watcher: cause.watcher, reason: result.reason },
        "transition ignored",
      );
      this.#bus?.publish(
        machineSubject(this.identity, this.name, "ignored"),
        machineTransitionIgnoredEvent.create({
          source: `machine/${this.identity}`,
          subject: this.identity,
          data: {
            identity: this.identity,
            id: this.instanceId,
            machine: this.name,
            transition: event,
            state: this.#state,
            reason: result.reason,
            ...(cause.watcher ? { watcher: cause.watcher } : {}),
          },
        }),
      );
      return result;
    }
    this.#state = result.to;
    const at = new Date();
    this.#log.info(
      { transition: event, from: result.from, to: result.to, watcher: cause.watcher },
      "transitioned",
    );
    this.#bus?.publish(
      machineSubject(this.identity, this.name, "transition"),
      machineTransitionEvent.create({
        source: `machine/${this.identity}`,
        subject: this.identity,
        time: at,
        data: {
          protocol: "io.choria.machine.v1.transition",
          identity: this.identity,
          id: this.instanceId,
          version: this.version,
          timestamp: Math.floor(at.getTime() / 1000),
          machine: this.name,
          transition: event,
          from_state: result.from,
          to_state: result.to,
        },
      }),
    );
    const done: MachineTransition = {
      transition: event,
      from: result.from,
      to: result.to,
      at,
      ...(cause.watcher ? { watcher: cause.watcher } : {}),
    };
    for (const listener of this.#listeners) listener(done);
    this.#stateChanged();
    // Choria notifies every machine of a transition, this one included.
    this.#fireSubscriptions(this.name, event);
    return result;
  }

  #isActive(slot: WatcherSlot): boolean {
    const match = slot.spec.state_match;
    if (match && match.length > 0 && !match.includes(this.#state)) return false;
    // Choria's ShouldWatch: state_match is an OR over this machine's states, and
    // foreign_state_required an AND over other machines' states; an incomplete entry never holds.
    for (const required of slot.spec.foreign_state_required ?? []) {
      if (!required.machine_name || !required.state) return false;
      const state =
        required.machine_name === this.name
          ? this.#state
          : this.#options.local?.state(required.machine_name);
      if (state !== required.state) return false;
    }
    return true;
  }

  /** Re-evaluates every watcher after a state change (own or foreign). */
  #stateChanged(): void {
    if (this.#abort.signal.aborted) return;
    for (const slot of this.#slots) this.#refresh(slot, true);
  }

  #refresh(slot: WatcherSlot, stateChanged: boolean): void {
    const active = this.#isActive(slot);
    const changed = active !== slot.active;
    slot.active = active;
    if (changed || stateChanged) slot.watcher.activeChanged?.(active);
    if (!slot.watcher.run) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    // A polled watcher runs on entering a matching state, then every interval.
    if (active && (changed || stateChanged)) void this.#run(slot);
  }

  async #run(slot: WatcherSlot): Promise<void> {
    if (slot.running) {
      slot.rerun = true;
      return;
    }
    slot.running = true;
    const started = performance.now();
    let run: WatcherRun;
    try {
      run = await slot.watcher.run!(this.#abort.signal);
    } catch (err) {
      run = { outcome: "error", details: { error: (err as Error).message } };
    }
    slot.running = false;
    if (this.#abort.signal.aborted) return;
    this.#handle(slot, run, performance.now() - started);
    if (slot.rerun) {
      slot.rerun = false;
      if (slot.active) return this.#run(slot);
    }
    if (slot.active && slot.intervalMs !== undefined) {
      clearTimeout(slot.timer);
      slot.timer = setTimeout(() => void this.#run(slot), slot.intervalMs);
    }
  }

  /** Announces a run and fires the transition its outcome names. */
  #handle(slot: WatcherSlot, run: WatcherRun, runTimeMs?: number): void {
    const transition =
      run.transition ??
      (run.outcome === "success"
        ? slot.spec.success_transition
        : run.outcome === "fail"
          ? slot.spec.fail_transition
          : undefined);
    slot.last = {
      run,
      at: Date.now(),
      ...(runTimeMs === undefined ? {} : { runTimeMs }),
      ...(transition ? { transition } : {}),
    };
    if (run.outcome === "error")
      this.#log.warn({ watcher: slot.spec.name, ...run.details }, "watcher run failed");
    this.#announce(slot);
    if (transition) void this.transition(transition, { watcher: slot.spec.name });
  }

  #announce(slot: WatcherSlot): void {
    const last = slot.last;
    if (!this.#bus || !last) return;
    const eventType = watcherStateEvent(slot.type.type);
    this.#bus.publish(
      machineSubject(this.identity, this.name, "watcher", slot.type.type, slot.spec.name),
      eventType.create({
        source: `machine/${this.identity}`,
        subject: this.identity,
        data: {
          ...last.run.details,
          protocol: eventType.type,
          identity: this.identity,
          id: this.instanceId,
          version: this.version,
          timestamp: Math.floor(last.at / 1000),
          type: slot.type.type,
          machine: this.name,
          name: slot.spec.name,
          previous_outcome: last.run.state ?? last.run.outcome,
          ...(last.transition ? { previous_transition: last.transition } : {}),
          ...(last.runTimeMs === undefined
            ? {}
            : { previous_run_time: Math.round(last.runTimeMs * 1e6) }),
        },
      }),
    );
  }

  #foreignMachines(): Set<string> {
    const names = new Set<string>();
    for (const { spec } of this.#definition.watchers)
      for (const f of spec.foreign_state_required ?? [])
        if (f.machine_name) names.add(f.machine_name);
    for (const t of this.#definition.spec.transitions)
      for (const s of t.subscribe ?? []) if (s.machine_name) names.add(s.machine_name);
    names.delete(this.name);
    return names;
  }

  #onLocalTransition(machine: string, event: string): void {
    if (this.#abort.signal.aborted) return;
    for (const slot of this.#slots) {
      if (slot.spec.foreign_state_required?.some((f) => f.machine_name === machine))
        this.#refresh(slot, false);
    }
    this.#fireSubscriptions(machine, event);
  }

  /** Choria's ExternalEventNotify: every transition subscribed to `machine`'s `event` fires. */
  #fireSubscriptions(machine: string, event: string): void {
    for (const t of this.#definition.spec.transitions) {
      if (t.subscribe?.some((s) => s.machine_name === machine && s.event === event))
        void this.transition(t.name, { subscription: `${machine}#${event}` });
    }
  }

  #watcherContext(slot: WatcherSlot) {
    const facts = this.#options.facts ?? (() => ({}));
    return {
      machine: {
        name: this.name,
        version: this.version,
        identity: this.identity,
        instanceId: this.instanceId,
        directory: this.directory,
      },
      spec: slot.spec,
      data: this.data,
      facts,
      render: (text: string) => renderTemplate(text, { data: this.data.all(), facts: facts() }),
      kv: (bucket: string) => this.#options.kv?.(bucket),
      log: this.#log.child({ watcher: slot.spec.name }),
      report: (run: WatcherRun) => {
        if (!this.#abort.signal.aborted) this.#handle(slot, run);
      },
      active: () => slot.active,
    };
  }
}
