import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { encodeJson } from "@org/reconcile-core";
import { printTable, type Row } from "@org/reconcile-core/bench";
import { tempDir } from "@org/reconcile-core/testing";
import { connectNats, NatsKvStore } from "@org/transport-nats";
import { TestNatsServer } from "@org/transport-nats/testing";
import { desiredKey } from "../src/fleet.js";
import {
  DEVICE,
  filesWritten,
  type Launch,
  launches,
  prepareAgent,
  sampleIdle,
  startAgent,
  stop,
} from "./idle-agent.js";

/** Agents per launch measured idle at once (`FOOTPRINT_AGENTS`); the figure is their median. */
const AGENTS = Number(process.env.FOOTPRINT_AGENTS ?? 2);
/** Start-ups per launch (`FOOTPRINT_STARTS`); the figure is their median. */
const STARTS = Number(process.env.FOOTPRINT_STARTS ?? 5);
const SETTLE_MS = 5_000;
const WINDOW_MS = Number(process.env.FOOTPRINT_WINDOW_MS ?? 20_000);
const MiB = 2 ** 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const bareNode = ({ nodeFlags, env }: { nodeFlags: string[]; env: Record<string, string> }) =>
  spawn(process.execPath, [...nodeFlags, "-e", "setInterval(()=>{},1e9)"], {
    stdio: "ignore",
    env: { ...process.env, ...env },
  });

/**
 * The edge agent as a device runs it (`node` on the built CLI or the bundle, `run -c
 * agent.yaml`, 20 files from NATS KV, 10 machines), against bare Node processes in the same run:
 * RSS and CPU while idle, and the time from start until the cached manifest's files are written,
 * against `node -e 0`.
 */
export async function benchFootprint(): Promise<void> {
  const server = await TestNatsServer.start(["-js"]);
  const rows: Row[] = [];
  try {
    rows.push(...(await idle(server.url)));
    rows.push(...(await startup(server.url)));
  } finally {
    await server.stop();
  }
  printTable(
    `edge-agent footprint: 20 files, 10 machines, NATS configured (device settings: node ${DEVICE.nodeFlags.join(" ")}, ${Object.entries(
      DEVICE.env,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")})`,
    rows,
  );
}

async function idle(natsUrl: string): Promise<Row[]> {
  const base = await tempDir("footprint-idle");
  const nc = await connectNats({ servers: natsUrl });
  const kv = await NatsKvStore.open(nc, "fleet");
  const running: Array<{ launch: Launch; child: ChildProcess }> = [];
  const bare = {
    plain: bareNode({ nodeFlags: [], env: {} }),
    device: bareNode(DEVICE),
  };
  try {
    const ready: Promise<void>[] = [];
    for (const launch of launches()) {
      for (let i = 0; i < AGENTS; i++) {
        const id = `idle-${running.length}`;
        const agent = await prepareAgent(join(base, id), id, natsUrl, { cached: false });
        await kv.put(desiredKey(id), encodeJson(agent.manifest));
        const child = startAgent(launch, agent);
        running.push({ launch, child });
        ready.push(filesWritten(agent, child));
      }
    }
    await Promise.all(ready);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const figures = await sampleIdle(
      [bare.plain.pid!, bare.device.pid!, ...running.map((r) => r.child.pid!)],
      WINDOW_MS,
    );
    const [plain, device, ...agents] = figures;
    const rows: Row[] = [];
    for (const launch of launches()) {
      const mine = agents.filter((_, i) => running[i]!.launch.label === launch.label);
      const flagged = launch.nodeFlags.length > 0;
      const baseline = flagged ? device! : plain!;
      const label = flagged ? "bare node, same settings" : "bare node";
      rows.push({
        metric: `idle RSS: ${launch.label} (median of ${mine.length})`,
        value: median(mine.map((f) => f.rss)) / MiB,
        unit: "MiB",
        baseline: { label, value: baseline.rss / MiB },
      });
    }
    rows.push({
      metric: "idle CPU, share of one core: bare node",
      value: plain!.cpuShare * 100,
      unit: "%",
    });
    for (const launch of launches()) {
      const mine = agents.filter((_, i) => running[i]!.launch.label === launch.label);
      rows.push({
        metric: `idle CPU, share of one core: ${launch.label}`,
        value: median(mine.map((f) => f.cpuShare)) * 100,
        unit: "%",
      });
    }
    return rows;
  } finally {
    await Promise.all([...running.map((r) => stop(r.child)), stop(bare.plain), stop(bare.device)]);
    await nc.close();
  }
}

/** Spawn until the cached manifest's 20 files are written (NATS reachable, its key empty). */
async function startup(natsUrl: string): Promise<Row[]> {
  const base = await tempDir("footprint-start");
  const times = new Map<string, number[]>();
  const nodeE0: number[] = [];
  for (let run = 0; run < STARTS; run++) {
    nodeE0.push(await timeNodeE0());
    // Interleaved, so that a busy moment of the machine is shared by every launch.
    for (const [index, launch] of launches().entries()) {
      const id = `start-${run}-${index}`;
      const agent = await prepareAgent(join(base, id), id, natsUrl, { cached: true });
      const started = performance.now();
      const child = startAgent(launch, agent);
      try {
        await filesWritten(agent, child);
      } finally {
        await stop(child);
      }
      const list = times.get(launch.label) ?? [];
      list.push(performance.now() - started);
      times.set(launch.label, list);
    }
  }
  const baseline = { label: "node -e 0", value: median(nodeE0) };
  return launches().map((launch) => ({
    metric: `start -> cached manifest applied (20 files written): ${launch.label} (median of ${STARTS})`,
    value: median(times.get(launch.label)!),
    unit: "ms",
    baseline,
  }));
}

async function timeNodeE0(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
  await new Promise((r) => child.once("exit", r));
  return performance.now() - started;
}
