import { describe, expect, it } from "vitest";
import {
  defaultLoopGuard,
  type LoopGuardState,
  loopGuardDelay,
  machineStates,
  nextState,
} from "./fsm.js";

const spec = {
  initial_state: "unknown",
  transitions: [
    { name: "absent", from: ["unknown", "monitor", "deploy"], destination: "deploy" },
    { name: "deployed", from: ["deploy"], destination: "monitor" },
    { name: "deploy_failed", from: ["deploy"], destination: "deploy" },
    { name: "no_manifest", from: ["unknown", "monitor", "deploy"], destination: "unknown" },
  ],
};

describe("machine transitions (pure)", () => {
  it("infers states from the initial state, from and destination", () => {
    expect([...machineStates(spec)].sort()).toEqual(["deploy", "monitor", "unknown"]);
  });

  it("moves along valid transitions", () => {
    expect(nextState(spec, "unknown", "absent")).toEqual({
      ok: true,
      from: "unknown",
      to: "deploy",
      transition: "absent",
    });
    expect(nextState(spec, "deploy", "deployed")).toMatchObject({ ok: true, to: "monitor" });
    expect(nextState(spec, "deploy", "deploy_failed")).toMatchObject({ ok: true, to: "deploy" });
  });

  it("refuses a transition not valid in the current state, and an unknown one", () => {
    expect(nextState(spec, "monitor", "deployed")).toEqual({
      ok: false,
      reason: "transition 'deployed' is not valid in state 'monitor'",
    });
    expect(nextState(spec, "monitor", "explode")).toEqual({
      ok: false,
      reason: "unknown transition 'explode'",
    });
  });
});

describe("loop guard (pure)", () => {
  const policy = {
    ...defaultLoopGuard,
    quietPeriodMs: 1_000,
    freeTransitions: 3,
    baseDelayMs: 100,
    maxDelayMs: 1_000,
  };
  const run = (times: number[]) => {
    let state: LoopGuardState = { lastAt: Number.NEGATIVE_INFINITY, burst: 0 };
    return times.map((t) => {
      const r = loopGuardDelay(policy, state, t);
      state = r.state;
      return r.delayMs;
    });
  };

  it("lets a few quick transitions through, then delays with doubling up to a cap", () => {
    expect(run([0, 10, 20, 30, 40, 50, 60, 70, 80])).toEqual([
      0, 0, 0, 100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it("forgets the burst after a quiet period", () => {
    expect(run([0, 10, 20, 30, 5_000, 5_010])).toEqual([0, 0, 0, 100, 0, 0]);
  });
});
