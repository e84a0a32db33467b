import { join } from "node:path";
import {
  type EventBus,
  MachineManager,
  machineTransitionEvent,
  MemoryEventBus,
  WatcherRegistry,
  builtinWatchers,
  defineWatcherType,
  defineEventType,
} from "@org/reconcile-core";
import { tempDir, writeMachineDir } from "@org/reconcile-core/testing";
import { connectNats, NatsEventBus } from "@org/transport-nats";
import { TestNatsServer } from "@org/transport-nats/testing";
import { z } from "zod";
import { percentile, printTable, type Row } from "@org/reconcile-core/bench";

const MACHINES = Number(process.env.BENCH_MACHINES ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

/** Each machine flips idle <-> busy on a 1 s timer, and a file watcher checks a file on every state change. */
const machineYaml = (i: number) => `name: M${i}
version: 1.0.0
initial_state: idle
splay_start: 1
transitions:
  - {name: tick, from: [idle], destination: busy}
  - {name: tock, from: [busy], destination: idle}
  - {name: changed, from: [idle, busy], destination: idle}
watchers:
  - {name: clock_idle, type: timer, state_match: [idle], fail_transition: tick, properties: {timer: 1s}}
  - {name: clock_busy, type: timer, state_match: [busy], fail_transition: tock, properties: {timer: 1s}}
  - {name: marker, type: file, interval: 10s, success_transition: changed, properties: {path: marker.txt, gather_initial_state: true}}
`;

/** The builtin registry with `timer` wrapped to stamp when each outcome is reported. */
function instrumentedRegistry(reportedAt: Map<string, number>): WatcherRegistry {
  const builtin = builtinWatchers();
  const timer = builtin.require("timer");
  const registry = new WatcherRegistry();
  for (const name of builtin.names()) {
    if (name !== "timer") registry.register(builtin.require(name));
  }
  registry.register(
    defineWatcherType({
      type: "timer",
      properties: timer.properties,
      create: (ctx, props) =>
        timer.create(
          {
            ...ctx,
            report: (run) => {
              reportedAt.set(ctx.machine.name, performance.now());
              ctx.report(run);
            },
          },
          props,
        ),
    }),
  );
  return registry;
}

interface Measured {
  transitions: number;
  delays: number[];
  cpuShare: number;
}

async function measureMachines(
  bus: EventBus,
  subscriberBus: EventBus,
  root: string,
): Promise<Measured> {
  const reportedAt = new Map<string, number>();
  const delays: number[] = [];
  let transitions = 0;
  let measuring = false;
  subscriberBus.subscribe("choria.machine.*.*.transition", (event) => {
    const d = machineTransitionEvent.parse(event).data;
    const at = reportedAt.get(d.machine);
    if (!measuring || at === undefined || d.transition === "changed") return;
    transitions++;
    delays.push(performance.now() - at);
  });
  const manager = new MachineManager({
    directory: root,
    identity: "bench",
    registry: instrumentedRegistry(reportedAt),
    bus,
  });
  await manager.start();
  await new Promise((r) => setTimeout(r, 3_000)); // splay and warm-up
  measuring = true;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1_000));
  const used = process.cpuUsage(cpu);
  const wall = performance.now() - started;
  measuring = false;
  await manager.stop();
  return {
    transitions,
    delays: delays.sort((a, b) => a - b),
    cpuShare: (used.user + used.system) / 1_000 / wall,
  };
}

const probe = defineEventType("org.bench.probe", z.object({ at: z.number() }));

/** The baseline: the bus alone, one event per machine per second, publish to receive. */
async function measureBus(bus: EventBus, subscriberBus: EventBus): Promise<number[]> {
  const delays: number[] = [];
  subscriberBus.subscribe("bench.probe", (event) => {
    delays.push(performance.now() - probe.parse(event).data.at);
  });
  await new Promise((r) => setTimeout(r, 200));
  const perTick = Math.max(1, Math.round(MACHINES / 100));
  const end = performance.now() + Math.min(SECONDS, 5) * 1_000;
  while (performance.now() < end) {
    for (let i = 0; i < perTick; i++)
      bus.publish(
        "bench.probe",
        probe.create({ source: "bench", data: { at: performance.now() } }),
      );
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 500));
  return delays.sort((a, b) => a - b);
}

function rows(mode: string, m: Measured, baseline: number[]): Row[] {
  return [
    { metric: `${mode}: transitions per second`, value: m.transitions / SECONDS, unit: "/s" },
    { metric: `${mode}: CPU share of one core`, value: m.cpuShare * 100, unit: "%" },
    {
      metric: `${mode}: watcher outcome -> transition event, p50`,
      value: percentile(m.delays, 50),
      unit: "ms",
      baseline: { label: "bus alone, publish -> receive p50", value: percentile(baseline, 50) },
    },
    {
      metric: `${mode}: watcher outcome -> transition event, p99`,
      value: percentile(m.delays, 99),
      unit: "ms",
      baseline: { label: "bus alone, publish -> receive p99", value: percentile(baseline, 99) },
    },
  ];
}

export async function benchMachines(): Promise<void> {
  const root = await tempDir("bench-machines");
  for (let i = 0; i < MACHINES; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, MACHINES - i) }, (_, j) =>
        writeMachineDir(join(root, `m${i + j}`), machineYaml(i + j)),
      ),
    );
  }
  const table: Row[] = [];

  const memory = new MemoryEventBus();
  table.push(
    ...rows(
      "in-memory bus",
      await measureMachines(memory, memory, root),
      await measureBus(memory, memory),
    ),
  );

  const server = await TestNatsServer.start();
  try {
    const pub = await connectNats({ servers: server.url });
    const sub = await connectNats({ servers: server.url });
    const natsBus = new NatsEventBus().attach(pub);
    const natsSub = new NatsEventBus().attach(sub);
    const machines = await measureMachines(natsBus, natsSub, root);
    const baseline = await measureBus(natsBus, natsSub);
    table.push(...rows("NATS bus", machines, baseline));
    await pub.close();
    await sub.close();
  } finally {
    await server.stop();
  }
  printTable(
    `edge-agent: ${MACHINES} machines in one process (1 s timers + a file watcher each), ${SECONDS} s`,
    table,
  );
}
