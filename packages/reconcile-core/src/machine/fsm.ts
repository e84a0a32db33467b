import type { MachineSpec } from "./spec.js";

/** Every state a machine can be in: the initial state and every `from` and `destination`. */
export function machineStates(
  spec: Pick<MachineSpec, "initial_state" | "transitions">,
): Set<string> {
  const states = new Set([spec.initial_state]);
  for (const t of spec.transitions) {
    states.add(t.destination);
    for (const s of t.from) states.add(s);
  }
  return states;
}

export type TransitionResult =
  | { ok: true; from: string; to: string; transition: string }
  | { ok: false; reason: string };

/**
 * The pure transition function: where `event` takes a machine in `state`. Invalid events
 * (unknown, or not valid from this state) are refused with a reason and change nothing.
 */
export function nextState(
  spec: Pick<MachineSpec, "transitions">,
  state: string,
  event: string,
): TransitionResult {
  const candidates = spec.transitions.filter((t) => t.name === event);
  if (candidates.length === 0) return { ok: false, reason: `unknown transition '${event}'` };
  const match = candidates.find((t) => t.from.includes(state));
  if (!match)
    return { ok: false, reason: `transition '${event}' is not valid in state '${state}'` };
  return { ok: true, from: state, to: match.destination, transition: event };
}

/** How a runaway transition loop is slowed down. */
export interface LoopGuardPolicy {
  /** Transitions closer together than this count as one burst. */
  quietPeriodMs: number;
  /** Transitions allowed in a burst before delays start. */
  freeTransitions: number;
  /** First delay, doubled for each further transition in the burst, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultLoopGuard: LoopGuardPolicy = {
  quietPeriodMs: 1_000,
  freeTransitions: 20,
  baseDelayMs: 100,
  maxDelayMs: 30_000,
};

export interface LoopGuardState {
  lastAt: number;
  burst: number;
}

/**
 * Pure: the delay before a transition requested at `now`, and the guard's next state. A
 * transition after a quiet period starts a new burst; within a burst, after `freeTransitions`
 * each further one waits twice as long as the last.
 */
export function loopGuardDelay(
  policy: LoopGuardPolicy,
  state: LoopGuardState,
  now: number,
): { delayMs: number; state: LoopGuardState } {
  const burst = now - state.lastAt >= policy.quietPeriodMs ? 1 : state.burst + 1;
  const over = burst - policy.freeTransitions;
  const delayMs =
    over <= 0 ? 0 : Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(over - 1, 40));
  return { delayMs, state: { lastAt: now + delayMs, burst } };
}
