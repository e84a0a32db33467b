/** Runs one agent with 20 File resources and 10 machines, idle, and reports its RSS and CPU to the parent. */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createLogger, encodeJson } from "@org/reconcile-core";
import { tempDir, until, writeMachineDir } from "@org/reconcile-core/testing";
import { connectNats, NatsKvStore } from "@org/transport-nats";
import { EdgeAgent } from "../src/agent.js";
import { desiredKey } from "../src/fleet.js";
import { benchAgentConfig } from "./bench-config.js";

const url = process.argv[2]!;
const dir = await tempDir("idle-agent");
const root = join(dir, "root");
await mkdir(root, { recursive: true });
for (let i = 0; i < 10; i++) {
  await writeMachineDir(
    join(dir, "machines", `m${i}`),
    `name: M${i}\nversion: 1.0.0\ninitial_state: idle\ntransitions:\n  - {name: tick, from: [idle], destination: idle}\nwatchers:\n  - {name: check, type: exec, interval: 30s, properties: {command: "true"}}\n  - {name: marker, type: file, interval: 10s, properties: {path: marker}}\n`,
  );
}
const config = benchAgentConfig("idle", url, dir, root, {
  machinesDir: join(dir, "machines"),
  resync: "30s",
});
const agent = await EdgeAgent.create(config, createLogger("idle", { level: "silent" }));
await agent.start();
const nc = await connectNats({ servers: url });
const kv = await NatsKvStore.open(nc, "fleet");
await kv.put(
  desiredKey("idle"),
  encodeJson({
    generation: 1,
    resources: Array.from({ length: 20 }, (_, i) => ({
      kind: "File",
      id: `f${i}`,
      spec: { path: join(root, `f${i}`), content: `file ${i}\n` },
    })),
  }),
);
await until(
  () => agent.status(),
  (s) => s.observedGeneration === 1,
  30_000,
);
await new Promise((r) => setTimeout(r, 5_000)); // settle
const cpu = process.cpuUsage();
const started = performance.now();
await new Promise((r) => setTimeout(r, 20_000));
const used = process.cpuUsage(cpu);
const rssBytes = process.memoryUsage().rss;
const baselineRss = Number(
  execFileSync(process.execPath, [
    "-e",
    "process.stdout.write(String(process.memoryUsage().rss))",
  ]).toString(),
);
process.send!({
  rssBytes,
  cpuShare: (used.user + used.system) / 1000 / (performance.now() - started),
  baselineRss,
});
await writeFile(join(dir, "done"), "");
