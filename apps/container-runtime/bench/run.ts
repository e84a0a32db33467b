import { execFile } from "node:child_process";
import { cpus } from "node:os";
import { promisify } from "node:util";
import { DockerEngine, LABEL_OWNER } from "@org/workloads/docker";
import { removeOwned, TEST_IMAGE } from "@org/workloads/testing";
import { silentLogger } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import { percentile, printTable, type Row } from "@org/reconcile-core/bench";
import { parseAgentDefinition } from "../src/agent-definition.js";
import { Supervisor } from "../src/supervisor.js";

const run = promisify(execFile);
const REPLICAS = 20;
const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const driver = new DockerEngine();

/** Baseline: 20 sequential `docker run -d` of the same image and command, with the Docker CLI. */
async function dockerCliBaseline(): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < REPLICAS; i++) {
    await run("docker", [
      "run",
      "-d",
      "--label",
      "bench=cli",
      "--name",
      `bench-cli-${i}`,
      TEST_IMAGE,
      "sleep",
      "600",
    ]);
  }
  const ms = performance.now() - started;
  await run("sh", ["-c", "docker rm -f $(docker ps -aq --filter label=bench=cli) >/dev/null"]);
  return ms;
}

async function main() {
  await removeOwned(driver, "bench-runtime");
  const result = parseAgentDefinition({
    apiVersion: "agent.dev/v1",
    kind: "Agent",
    metadata: { name: "bench", version: "1.0.0" },
    spec: {
      image: TEST_IMAGE,
      command: ["sleep", "600"],
      replicas: REPLICAS,
      stopGracePeriod: "1s",
    },
  });
  if (!result.ok) throw new Error(result.error);
  const cliMs = await dockerCliBaseline();

  const supervisor = new Supervisor({
    stateDir: await tempDir("bench-runtime"),
    strategy: "docker",
    driver,
    log: silentLogger,
    owner: "bench-runtime",
  });
  await supervisor.start();
  const started = performance.now();
  await supervisor.apply(result.agent);
  const ready = await supervisor.waitReady("bench", 120_000);
  const applyMs = performance.now() - started;
  if (!ready.ready) throw new Error(`not ready: ${ready.reason}`);

  // Replacement: remove a replica by hand (docker rm -f), time until its successor runs.
  const delays: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    const id = `bench-${t % REPLICAS}`;
    const [victim] = await driver.list({
      [LABEL_OWNER]: "bench-runtime",
      "org.reconcile.resource": id,
    });
    const removedAt = performance.now();
    await run("docker", ["rm", "-f", victim!.id]);
    await until(
      async () =>
        (await driver.list({ [LABEL_OWNER]: "bench-runtime", "org.reconcile.resource": id }))[0],
      (c) => c !== undefined && c.id !== victim!.id && c.state === "running",
      30_000,
    );
    delays.push(performance.now() - removedAt);
  }
  delays.sort((a, b) => a - b);
  await supervisor.delete("bench");
  await supervisor.controller.idle();
  await supervisor.stop();
  await removeOwned(driver, "bench-runtime");

  const oneRun = { label: "one `docker run -d` (mean of the 20)", value: cliMs / REPLICAS };
  const rows: Row[] = [
    {
      metric: `apply ${REPLICAS} replicas until all are Ready`,
      value: applyMs,
      unit: "ms",
      baseline: { label: `${REPLICAS} sequential \`docker run -d\``, value: cliMs },
    },
    {
      metric: `\`docker rm -f\` of a replica -> successor running, p50 (${TRIALS} trials)`,
      value: percentile(delays, 50),
      unit: "ms",
      baseline: oneRun,
    },
    {
      metric: `\`docker rm -f\` of a replica -> successor running, p95 (${TRIALS} trials)`,
      value: percentile(delays, 95),
      unit: "ms",
      baseline: oneRun,
    },
  ];
  printTable("container-runtime", rows);
  console.log(
    `\n${new Date().toISOString()} node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "unknown cpu"}`,
  );
}

await main();
