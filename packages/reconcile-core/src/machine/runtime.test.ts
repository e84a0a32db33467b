import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { MemoryEventBus } from "../bus/memory-bus.js";
import { recordEvents, tempDir, until } from "../testing/helpers.js";
import {
  machineTransitionEvent,
  machineTransitionIgnoredEvent,
  watcherStateEvent,
} from "./events.js";
import { loadMachineText, type MachineDefinition } from "./load.js";
import { MachineRuntime } from "./runtime.js";
import { WatcherRegistry } from "./watchers/registry.js";
import { builtinWatchers } from "./watchers/builtin.js";
import { defineWatcherType, type WatcherContext } from "./watchers/watcher.js";

const example = new URL("../../../../examples/machines/container-manager/", import.meta.url)
  .pathname;
const runtimes: MachineRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  vi.useRealTimers();
});

function load(yaml: string, registry = builtinWatchers()): MachineDefinition {
  const result = loadMachineText(yaml, registry);
  if (!result.ok) throw result.error;
  return result.definition;
}

function run(definition: MachineDefinition, directory: string, bus = new MemoryEventBus()) {
  const runtime = new MachineRuntime({ definition, directory, identity: "pi-7", bus, splayMs: 0 });
  runtimes.push(runtime);
  return runtime;
}

describe("MachineRuntime", () => {
  it("runs the ContainerManager example with real scripts: reaches monitor, redeploys when its check fails, and returns", async () => {
    const dir = await tempDir("container-manager");
    await cp(example, dir, { recursive: true });
    // Same machine, faster clock.
    const yaml = (await readFile(join(dir, "machine.yaml"), "utf8"))
      .replace("interval: 10s", "interval: 200ms")
      .replace("interval: 1m", "interval: 300ms")
      .replace("interval: 30s", "interval: 150ms");
    const bus = new MemoryEventBus();
    const transitions = recordEvents(bus, "choria.machine.pi-7.ContainerManager.transition");
    const execRuns = recordEvents(bus, "choria.machine.*.*.watcher.exec.*");
    const runtime = run(load(yaml), dir, bus);
    await runtime.start();

    const path = () =>
      transitions.events
        .map((e) => machineTransitionEvent.parse(e.event).data)
        .map((d) => `${d.transition}:${d.from_state}->${d.to_state}`);
    await until(
      () => runtime.state,
      (s) => s === "monitor",
      10_000,
      "reaching monitor",
    );
    expect(path()).toEqual(["absent:unknown->deploy", "deployed:deploy->monitor"]);

    // The service dies: the check fails, the machine redeploys and comes back.
    await rm(join(dir, ".ContainerManager.running"));
    await until(
      () => path().length,
      (n) => n >= 4,
      10_000,
      "redeploying",
    );
    await until(
      () => runtime.state,
      (s) => s === "monitor",
    );
    expect(path().slice(2, 4)).toEqual(["absent:monitor->deploy", "deployed:deploy->monitor"]);

    const first = machineTransitionEvent.parse(transitions.events[0]!.event);
    expect(first).toMatchObject({
      specversion: "1.0",
      type: "io.choria.machine.v1.transition",
      subject: "pi-7",
    });
    expect(first.data).toMatchObject({
      identity: "pi-7",
      machine: "ContainerManager",
      version: "1.0.0",
      id: runtime.instanceId,
    });

    const deployRun = execRuns.events
      .map((e) => watcherStateEvent("exec").parse(e.event).data)
      .find((d) => d.name === "deploy");
    expect(deployRun).toMatchObject({
      command: "./deploy.sh",
      previous_outcome: "success",
      previous_transition: "deployed",
      exit_code: 0,
    });
    expect(deployRun?.previous_run_time).toBeGreaterThan(0);
  });

  it("ignores and reports a transition that is not valid in the current state", async () => {
    const dir = await tempDir("machine");
    const bus = new MemoryEventBus();
    const ignored = recordEvents(bus, "choria.machine.*.*.ignored");
    const runtime = run(
      load(
        "name: M\nversion: 1.0.0\ninitial_state: off\ntransitions:\n  - {name: on, from: [off], destination: lit}\nwatchers:\n  - {name: idle, type: timer, properties: {timer: 1h}}\n",
      ),
      dir,
      bus,
    );
    await runtime.start();
    expect(await runtime.transition("on")).toMatchObject({ ok: true, to: "lit" });
    expect(await runtime.transition("on")).toEqual({
      ok: false,
      reason: "transition 'on' is not valid in state 'lit'",
    });
    expect(runtime.state).toBe("lit");
    await until(
      () => ignored.events.length,
      (n) => n === 1,
    );
    expect(machineTransitionIgnoredEvent.parse(ignored.events[0]!.event).data).toMatchObject({
      transition: "on",
      state: "lit",
    });
  });

  it("slows a runaway transition loop instead of spinning", async () => {
    const dir = await tempDir("machine");
    const runtime = new MachineRuntime({
      definition: load(
        "name: Loop\nversion: 1.0.0\ninitial_state: a\ntransitions:\n  - {name: flip, from: [a, b], destination: b}\n  - {name: flop, from: [b], destination: a}\nwatchers:\n  - {name: idle, type: timer, properties: {timer: 1h}}\n",
      ),
      directory: dir,
      identity: "pi-7",
      splayMs: 0,
      loopGuard: { quietPeriodMs: 1_000, freeTransitions: 5, baseDelayMs: 50, maxDelayMs: 400 },
    });
    runtimes.push(runtime);
    vi.useFakeTimers();
    await runtime.start();
    let done = 0;
    for (let i = 0; i < 10; i++)
      void runtime.transition(i % 2 === 0 ? "flip" : "flop").then(() => done++);
    // 5 free, then 50 + 100 + 200 + 400 + 400 ms.
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(5);
    await vi.advanceTimersByTimeAsync(1_150 - 1);
    expect(done).toBe(9);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(10);
    expect(runtime.state).toBe("a");
  });

  it("runs polled watchers only in their states, on entry and every interval", async () => {
    const runs: string[] = [];
    const probe = defineWatcherType({
      type: "probe",
      properties: z.object({}).strict(),
      defaultIntervalMs: 50,
      create: (ctx: WatcherContext) => ({
        run: async () => {
          runs.push(ctx.machine.name);
          return { outcome: "unchanged" as const, details: {} };
        },
        stop() {},
      }),
    });
    const registry = new WatcherRegistry([probe]);
    const runtime = run(
      load(
        "name: P\nversion: 1.0.0\ninitial_state: idle\ntransitions:\n  - {name: go, from: [idle], destination: busy}\n  - {name: rest, from: [busy], destination: idle}\nwatchers:\n  - {name: w, type: probe, state_match: [busy]}\n",
        registry,
      ),
      await tempDir("machine"),
    );
    vi.useFakeTimers();
    await runtime.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(runs).toHaveLength(0);
    await runtime.transition("go");
    expect(runs).toHaveLength(1); // on entry
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(3); // and every 50 ms
    await runtime.transition("rest");
    await vi.advanceTimersByTimeAsync(500);
    expect(runs).toHaveLength(3);
  });

  it("keeps machine data across restarts and renders it into properties", async () => {
    const dir = await tempDir("machine");
    await writeFile(join(dir, "emit.sh"), "#!/bin/sh\necho '{\"port\": 8080}'\n", { mode: 0o755 });
    await writeFile(
      join(dir, "use.sh"),
      '#!/bin/sh\n[ "$1" = 8080 ] && [ "$(cat "$WATCHER_DATA")" = \'{"port":8080}\' ]\n',
      { mode: 0o755 },
    );
    const yaml = [
      "name: D",
      "version: 1.0.0",
      "initial_state: start",
      "transitions:",
      "  - {name: learned, from: [start], destination: learned}",
      "  - {name: used, from: [learned], destination: done}",
      "watchers:",
      "  - {name: learn, type: exec, state_match: [start], success_transition: learned, properties: {command: emit.sh, parse_as_data: true}}",
      '  - {name: use, type: exec, state_match: [learned], success_transition: used, properties: {command: "use.sh {{ lookup \\"data.port\\" \\"80\\" }}"}}',
    ].join("\n");
    const runtime = run(load(yaml), dir);
    await runtime.start();
    await until(
      () => runtime.state,
      (s) => s === "done",
    );
    await runtime.stop();
    expect(
      new MachineRuntime({ definition: load(yaml), directory: dir, identity: "x" }).data.get(
        "port",
      ),
    ).toBe(8080);
  });

  it("fires a transition subscribed to its own machine's event, as Choria notifies every machine", async () => {
    const dir = await tempDir("machine");
    const runtime = run(
      load(`name: Chain
version: 1.0.0
initial_state: a
transitions:
  - {name: go, from: [a], destination: b}
  - {name: follow, from: [b], destination: c, subscribe: [{machine_name: Chain, event: go}]}
watchers:
  - {name: idle, type: timer, properties: {timer: 1h}}
`),
      dir,
    );
    const seen: string[] = [];
    runtime.onTransition((t) => seen.push(`${t.transition}: ${t.from} => ${t.to}`));
    await runtime.start();
    await runtime.transition("go");
    await until(
      () => runtime.state,
      (state) => state === "c",
    );
    expect(seen).toEqual(["go: a => b", "follow: b => c"]);
  });
});
