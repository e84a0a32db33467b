import { closeSync, fchmodSync, openSync, renameSync, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ManifestStatusSchema,
  createLogger,
  decodeJson,
  encodeJson,
  type KvStore,
} from "@org/reconcile-core";
import { tempDir } from "@org/reconcile-core/testing";
import { connectNats, NatsKvStore } from "@org/transport-nats";
import { TestNatsServer } from "@org/transport-nats/testing";
import { percentile, printTable, type Row } from "@org/reconcile-core/bench";
import { EdgeAgent } from "../src/agent.js";
import { desiredKey } from "../src/fleet.js";
import { benchAgentConfig } from "./bench-config.js";

const FILES = 5;
const silent = createLogger("bench", { level: "silent" });

/** `FLEET_AGENTS=200` (or `100,1000`) picks the fleet sizes, e.g. for a smaller profiled run. */
function fleetSizes(): number[] {
  const text = process.env.FLEET_AGENTS ?? "100,1000";
  const sizes = text.split(",").map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(
      `FLEET_AGENTS=${text} is not a list of agent counts; give positive integers such as 100,1000`,
    );
  return sizes;
}

/** CPU time (user + system) of this process since `since`, in ms. */
const cpuMsSince = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

function manifest(root: string, generation: number) {
  return {
    generation,
    resources: Array.from({ length: FILES }, (_, i) => ({
      kind: "File",
      id: `f${i}`,
      spec: { path: join(root, `f${i}.conf`), content: `generation=${generation} file=${i}\n` },
    })),
  };
}

/** Starts `n` agents in this process on `connections` shared NATS connections, each with its own id and root. */
async function startAgents(
  n: number,
  server: TestNatsServer,
  connections: Array<Promise<NatsConnection>>,
  base: string,
) {
  const agents: Array<{ id: string; root: string; agent: EdgeAgent }> = [];
  for (let i = 0; i < n; i++) {
    const id = `bench-${n}-${i}`;
    const root = join(base, id);
    await mkdir(root, { recursive: true });
    const config = benchAgentConfig(id, server.url, root, root, {
      resync: "5m",
      statusInterval: "100ms",
      heartbeatInterval: "30s",
    });
    const agent = await EdgeAgent.create(config, silent, {
      connection: connections[i % connections.length]!,
    });
    await agent.start();
    agents.push({ id, root, agent });
  }
  return agents;
}

/** Publishes a new generation to every agent and times each one's Ready at it, as seen in actual-state. */
async function rollout(
  kv: KvStore,
  agents: Array<{ id: string; root: string }>,
  generation: number,
) {
  const watch = await kv.watch("actual-state.>");
  const sentAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  let statusWrites = 0;
  const finished = (async () => {
    for await (const entry of watch) {
      if (entry.operation !== "PUT") continue;
      const id = entry.key.slice("actual-state.".length);
      const sent = sentAt.get(id);
      if (sent === undefined || doneAt.has(id)) continue;
      statusWrites++;
      const status = decodeJson(ManifestStatusSchema, entry.key, entry.revision, entry.value);
      const ready =
        status.observedGeneration === generation &&
        status.conditions.some((c) => c.type === "Ready" && c.status === "True");
      if (ready) doneAt.set(id, performance.now() - sent);
      if (doneAt.size === agents.length) return;
    }
  })();
  const started = performance.now();
  await Promise.all(
    agents.map(async ({ id, root }) => {
      sentAt.set(id, performance.now());
      await kv.put(desiredKey(id), encodeJson(manifest(root, generation))).catch((err: Error) => {
        // The put went out; its acknowledgement waited behind the agents' work in this one
        // process. A put that truly failed shows as an agent never Ready, below.
        if (err.name !== "TimeoutError") throw err;
      });
    }),
  );
  const timeout = new Promise<void>((_, reject) =>
    setTimeout(
      () => reject(new Error(`only ${doneAt.size}/${agents.length} agents Ready within 5 min`)),
      300_000,
    ),
  );
  await Promise.race([finished, timeout]);
  watch.stop();
  return {
    perAgent: [...doneAt.values()].sort((a, b) => a - b),
    allMs: performance.now() - started,
    /** Status writes (compare-and-set updates) per agent until it was Ready at this generation. */
    statusWrites: statusWrites / agents.length,
  };
}

export async function benchFleet(): Promise<void> {
  const server = await TestNatsServer.start();
  const rows: Row[] = [];
  try {
    const admin = await connectNats({ servers: server.url });
    const kv = await NatsKvStore.open(admin, "fleet");
    const floor = { label: "KV put -> watch delivery, idle server", value: await kvFloor(kv) };
    for (const n of fleetSizes()) {
      const base = await tempDir(`bench-fleet-${n}`);
      const connections = Array.from({ length: Math.max(1, Math.round(n / 100)) }, () =>
        connectNats({ servers: server.url }),
      );
      const agents = await startAgents(n, server, connections, base);
      await rollout(kv, agents, 1); // warm-up generation: files created, consumers settled
      const harness = await harnessCpu(kv, agents);
      const fsFloor = fileSystemFloor(agents);
      // Three measured rollouts (generations 2-4); the one with the median CPU is reported,
      // so a neighbour's burst on a shared machine moves the figures less.
      const rounds: Array<
        Awaited<ReturnType<typeof rollout>> & { cpuPerAgent: number; events: number }
      > = [];
      // Events the agents publish during a rollout, counted on the bench's own connection.
      let events = 0;
      const eventWatch = admin.subscribe("agent.>", {
        callback: () => {
          events++;
        },
      });
      for (let generation = 2; generation <= 4; generation++) {
        const profile = generation === 2 ? await startProfile() : undefined;
        const cpu = process.cpuUsage();
        events = 0;
        const round = await rollout(kv, agents, generation);
        rounds.push({ ...round, cpuPerAgent: cpuMsSince(cpu) / n, events: events / n });
        await profile?.stop(`fleet-${n}`);
      }
      eventWatch.unsubscribe();
      rounds.sort((a, b) => a.cpuPerAgent - b.cpuPerAgent);
      const { perAgent, allMs, cpuPerAgent, statusWrites, events: eventsPerAgent } = rounds[1]!;
      rows.push(
        {
          metric: `${n} agents x ${FILES} files: apply -> Ready, p50`,
          value: percentile(perAgent, 50),
          unit: "ms",
          baseline: floor,
        },
        {
          metric: `${n} agents: apply -> Ready, p99`,
          value: percentile(perAgent, 99),
          unit: "ms",
          baseline: floor,
        },
        {
          metric: `${n} agents: apply -> Ready, max`,
          value: perAgent.at(-1)!,
          unit: "ms",
          baseline: floor,
        },
        { metric: `${n} agents: whole rollout`, value: allMs, unit: "ms" },
        {
          metric: `${n} agents: CPU per agent per manifest (this process; median of 3 rollouts)`,
          value: cpuPerAgent,
          unit: "ms",
          baseline: {
            label: "the bench's own KV traffic per agent, no agent acting",
            value: harness,
          },
        },
        {
          metric: `${n} agents: CPU per agent per manifest, less the bench's KV traffic`,
          value: cpuPerAgent - harness,
          unit: "ms",
          baseline: {
            label: "6 bare atomic replaces (5 files + manifest cache) per agent, no agent",
            value: fsFloor,
          },
        },
        {
          metric: `${n} agents: status writes (KV compare-and-set) per agent until Ready`,
          value: statusWrites,
          unit: "",
        },
        {
          metric: `${n} agents: events published per agent during the rollout`,
          value: eventsPerAgent,
          unit: "",
        },
      );
      for (const a of agents) await a.agent.stop();
      for (const c of connections) await (await c).close();
    }
    await admin.close();
    // FLEET_IDLE=0 leaves out the 25 s idle-agent measurement (e.g. while profiling rollouts).
    if (process.env.FLEET_IDLE !== "0") rows.push(...(await idleAgent(server)));
  } finally {
    await server.stop();
  }
  printTable("edge-agent: fleet rollouts on one real nats-server (agents in one process)", rows);
}

/**
 * With `FLEET_PROFILE=<dir>`, a V8 CPU profile of the measured rollout alone (not the agents'
 * start) is written there as `fleet-<n>.cpuprofile`, for Chrome DevTools or `--cpu-prof` tools.
 */
async function startProfile() {
  const dir = process.env.FLEET_PROFILE;
  if (!dir) return undefined;
  const { Session } = await import("node:inspector/promises");
  const { writeFile } = await import("node:fs/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
  return {
    async stop(name: string) {
      const { profile } = await session.post("Profiler.stop");
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/**
 * The share of the rollout's CPU that is the bench's, not the agents': per agent, the desired
 * put and a watched status put decoded as `rollout` decodes it, with no agent acting on them
 * (keys no agent watches).
 */
async function harnessCpu(kv: KvStore, agents: Array<{ id: string }>): Promise<number> {
  const status = encodeJson({
    manifestGeneration: 1,
    observedGeneration: 1,
    resources: {},
    conditions: [],
  });
  const watch = await kv.watch("bench-harness-status.>");
  const cpu = process.cpuUsage();
  let seen = 0;
  const done = (async () => {
    for await (const entry of watch) {
      decodeJson(ManifestStatusSchema, entry.key, entry.revision, entry.value);
      if (++seen === agents.length) return;
    }
  })();
  await Promise.all(
    agents.map(async ({ id }, i) => {
      await kv.put(`bench-harness-desired.${id}`, encodeJson(manifest(`/h${i}`, 1)));
      await kv.put(`bench-harness-status.${id}`, status);
    }),
  );
  await done;
  const perAgent = cpuMsSince(cpu) / agents.length;
  watch.stop();
  return perAgent;
}

/**
 * The file-system floor under one agent's manifest, in CPU ms per agent: the atomic replaces
 * the agent cannot skip (each of the 5 files changes, and the manifest cache is saved), done
 * bare with synchronous calls in each agent's own directory. On ext4 a rename over an existing
 * file also starts the new file's writeback (`auto_da_alloc`), which this counts too.
 */
function fileSystemFloor(agents: Array<{ root: string }>): number {
  const replaceAll = (generation: number) => {
    for (const { root } of agents) {
      for (let i = 0; i < FILES + 1; i++) {
        const path = join(root, `floor-${i}`);
        const tmp = `${path}.tmp`;
        const fd = openSync(tmp, "wx", 0o644);
        writeSync(fd, `generation=${generation} file=${i}\n`);
        fchmodSync(fd, 0o644);
        closeSync(fd);
        renameSync(tmp, path);
      }
    }
  };
  replaceAll(1); // the files exist, as the agents' do
  const cpu = process.cpuUsage();
  replaceAll(2);
  return cpuMsSince(cpu) / agents.length;
}

/** Baseline, measured before any agent runs: a KV put and its delivery to a watch of the key (p50 of 200). */
async function kvFloor(kv: KvStore): Promise<number> {
  const probe = await kv.watch("bench-probe.>");
  await new Promise((r) => setTimeout(r, 200)); // the watch's consumer is in place
  const times: number[] = [];
  const done = (async () => {
    for await (const e of probe) {
      times.push(performance.now() - Number(new TextDecoder().decode(e.value)));
      if (times.length === 200) return;
    }
  })();
  for (let i = 0; i < 200; i++)
    await kv.put(`bench-probe.k${i}`, new TextEncoder().encode(String(performance.now())));
  await done;
  probe.stop();
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

/** One agent with 20 File resources and 10 machines, idle: RSS and CPU over 20 s. */
async function idleAgent(server: TestNatsServer): Promise<Row[]> {
  const { fork } = await import("node:child_process");
  const child = fork(new URL("./idle-agent.ts", import.meta.url).pathname, [server.url], {
    execArgv: ["--import", "tsx", "--conditions=source"],
    stdio: "inherit",
  });
  const result = await new Promise<{ rssBytes: number; cpuShare: number; baselineRss: number }>(
    (resolve, reject) => {
      child.once("message", (m) =>
        resolve(m as { rssBytes: number; cpuShare: number; baselineRss: number }),
      );
      child.once("exit", (code) => reject(new Error(`idle agent exited ${code}`)));
    },
  );
  child.kill();
  return [
    {
      metric: "idle agent (20 files, 10 machines): RSS",
      value: result.rssBytes / 2 ** 20,
      unit: "MiB",
      baseline: { label: "a bare Node process", value: result.baselineRss / 2 ** 20 },
    },
    { metric: "idle agent: CPU share of one core", value: result.cpuShare * 100, unit: "%" },
  ];
}
