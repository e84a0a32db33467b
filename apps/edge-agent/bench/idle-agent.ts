/**
 * The agent as a device runs it: `node` on the built CLI or on the bundle, `edge-agent run -c
 * agent.yaml` with 20 File resources, 10 machines and NATS configured, in a process of its own
 * measured from /proc. Used by footprint.bench.ts; forked by fleet.bench.ts (see the end).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, watch } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeMachineDir } from "@org/reconcile-core/testing";
import { desiredKey } from "../src/fleet.js";

export const FILES = 20;
export const MACHINES = 10;
const appDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * How deploy/ runs the agent on a device (docs/edge-agent.md, "Footprint"): Node with a 1 MiB
 * semi-space instead of 16 MiB (`--max-semi-space-size`) and V8's lite mode (no optimising
 * compiler), and glibc's malloc returning blocks over 128 KiB to the system when freed.
 * `FOOTPRINT_DEVICE_FLAGS="--flag ..."` measures other node flags in their place.
 */
export const DEVICE = {
  nodeFlags: process.env.FOOTPRINT_DEVICE_FLAGS?.split(" ").filter(Boolean) ?? [
    "--max-semi-space-size=1",
    "--lite-mode",
  ],
  env: { GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=131072" } as Record<string, string>,
};
const PLAIN = { nodeFlags: [] as string[], env: {} as Record<string, string> };

/** How a device starts the agent: an entry file and the node flags in front of it. */
export interface Launch {
  label: string;
  entry: string;
  nodeFlags: string[];
  env: Record<string, string>;
}

/** The built CLI and the single-file bundle, each plain and with the device flags. */
export function launches(): Launch[] {
  const dist = join(appDir, "dist", "cli.js");
  const bundle = join(appDir, "dist", "edge-agent.mjs");
  for (const [file, make] of [
    [dist, "npx turbo run build --filter=edge-agent"],
    [bundle, "npm run bundle -w edge-agent"],
  ] as const) {
    if (!existsSync(file))
      throw new Error(`${file} is missing: the footprint bench runs what a device runs; ${make}`);
  }
  return [
    { label: "dist/cli.js", entry: dist, ...PLAIN },
    { label: "dist/cli.js, device settings", entry: dist, ...DEVICE },
    { label: "bundle dist/edge-agent.mjs", entry: bundle, ...PLAIN },
    { label: "bundle, device settings", entry: bundle, ...DEVICE },
  ];
}

/** Where one agent lives: its config file and the root its File resources are written under. */
export interface DeviceAgent {
  id: string;
  config: string;
  root: string;
  manifest: { generation: number; resources: unknown[] };
}

/**
 * Writes an agent's directory under `dir`: 10 machines (an exec and a file watcher each), a
 * config with NATS at `natsUrl`, and with `cached`, the 20-file manifest as the offline cache
 * the agent applies at start.
 */
export async function prepareAgent(
  dir: string,
  id: string,
  natsUrl: string,
  { cached }: { cached: boolean },
): Promise<DeviceAgent> {
  const root = join(dir, "root");
  const state = join(dir, "state");
  await mkdir(root, { recursive: true });
  await mkdir(state, { recursive: true });
  for (let i = 0; i < MACHINES; i++) {
    await writeMachineDir(
      join(dir, "machines", `m${i}`),
      `name: M${i}\nversion: 1.0.0\ninitial_state: idle\ntransitions:\n  - {name: tick, from: [idle], destination: idle}\nwatchers:\n  - {name: check, type: exec, interval: 30s, properties: {command: "true"}}\n  - {name: marker, type: file, interval: 10s, properties: {path: marker}}\n`,
    );
  }
  const manifest = {
    generation: 1,
    resources: Array.from({ length: FILES }, (_, i) => ({
      kind: "File",
      id: `f${i}`,
      spec: { path: join(root, `f${i}`), content: `file ${i}\n` },
    })),
  };
  if (cached) await writeFile(join(state, "manifest.json"), JSON.stringify(manifest));
  const config = join(dir, "agent.yaml");
  await writeFile(
    config,
    JSON.stringify({
      id,
      nats: { servers: natsUrl },
      allowedRoots: [root],
      stateDir: state,
      machinesDir: join(dir, "machines"),
      docker: { enabled: false },
      systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
      resync: "30s",
      logLevel: "warn",
    }),
  );
  return { id, config, root, manifest };
}

/** Starts `edge-agent run -c <config>` as `launch` says; its stderr is kept for the error if it exits. */
export function startAgent(launch: Launch, agent: DeviceAgent): ChildProcess {
  const child = spawn(
    process.execPath,
    [...launch.nodeFlags, launch.entry, "run", "-c", agent.config],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...launch.env, LOG_LEVEL: "warn" },
    },
  );
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal === null)
      console.error(`${launch.label}: edge-agent exited ${code}:\n${stderr}`);
  });
  return child;
}

/** Resolves once every File resource of `agent` is on disk (the first manifest applied), or rejects after `ms`. */
export function filesWritten(agent: DeviceAgent, child: ChildProcess, ms = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(agent.root);
    const done = (err?: Error) => {
      clearTimeout(timer);
      watcher.close();
      child.off("exit", exited);
      if (err) reject(err);
      else resolve();
    };
    const check = () =>
      void readdir(agent.root).then((names) => {
        if (names.filter((n) => /^f\d+$/.test(n)).length === FILES) done();
      });
    const exited = (code: number | null) =>
      done(new Error(`edge-agent (${agent.id}) exited ${code} before writing its ${FILES} files`));
    const timer = setTimeout(
      () =>
        done(new Error(`edge-agent (${agent.id}) did not write its ${FILES} files in ${ms} ms`)),
      ms,
    );
    watcher.on("change", check);
    child.once("exit", exited);
    check();
  });
}

/** Resident memory of `pid` (VmRSS), in bytes. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`/proc/${pid}/status has no VmRSS line: is ${pid} a live process?`);
  return Number(kb[1]) * 1024;
}

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU time (user + system) `pid` has used so far, in ms, from /proc/<pid>/stat. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

export interface IdleFigures {
  /** Median of the RSS samples over the window, in bytes. */
  rss: number;
  /** CPU used over the window as a share of one core. */
  cpuShare: number;
}

/** Samples each pid's RSS every second for `windowMs`, and its CPU over the whole window. */
export async function sampleIdle(pids: number[], windowMs: number): Promise<IdleFigures[]> {
  const samples = pids.map(() => [] as number[]);
  const cpu0 = await Promise.all(pids.map(cpuMs));
  const started = performance.now();
  while (performance.now() - started < windowMs) {
    await new Promise((r) => setTimeout(r, 1_000));
    const rss = await Promise.all(pids.map(rssBytes));
    for (const [i, r] of rss.entries()) samples[i]!.push(r);
  }
  const elapsed = performance.now() - started;
  const cpu1 = await Promise.all(pids.map(cpuMs));
  return pids.map((_, i) => {
    const sorted = samples[i]!.sort((a, b) => a - b);
    return {
      rss: sorted[Math.floor(sorted.length / 2)]!,
      cpuShare: (cpu1[i]! - cpu0[i]!) / elapsed,
    };
  });
}

/** Stops a child and waits for it to be gone. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

// Forked by fleet.bench.ts with a NATS URL: the bundle with the device flags, idle, measured as
// above against a bare Node process, reported in the message shape fleet.bench.ts expects.
if (process.send && process.argv[2]) {
  const { tempDir } = await import("@org/reconcile-core/testing");
  const { connectNats, NatsKvStore } = await import("@org/transport-nats");
  const { encodeJson } = await import("@org/reconcile-core");
  const url = process.argv[2];
  const launch = launches().at(-1)!;
  const agent = await prepareAgent(await tempDir("idle-agent"), "idle", url, { cached: false });
  const nc = await connectNats({ servers: url });
  await (await NatsKvStore.open(nc, "fleet")).put(desiredKey(agent.id), encodeJson(agent.manifest));
  await nc.close();
  const child = startAgent(launch, agent);
  const bare = spawn(process.execPath, [...launch.nodeFlags, "-e", "setInterval(()=>{},1e9)"], {
    env: { ...process.env, ...launch.env },
  });
  await filesWritten(agent, child);
  await new Promise((r) => setTimeout(r, 5_000)); // settle
  const [figures, baseline] = await sampleIdle([child.pid!, bare.pid!], 20_000);
  await Promise.all([stop(child), stop(bare)]);
  process.send({
    rssBytes: figures!.rss,
    cpuShare: figures!.cpuShare,
    baselineRss: baseline!.rss,
  });
}
