#!/usr/bin/env node
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  ContainerSpecSchema,
  DockerDriver,
  LABEL_OWNER,
  type ObservedContainer,
} from "@org/docker";
import { createLogger, durationMs } from "@org/reconcile-core";
import { Command, Option } from "commander";
import { type AgentSpec, parseAgentSpecText, replicaIds } from "./agent-spec.js";
import { buildApi } from "./api/server.js";
import { EcsService } from "./ecs/ecs-service.js";
import { detectStrategy, type Strategy, Supervisor } from "./supervisor.js";

const CLI_OWNER = "container-runtime-cli";
const defaultStateDir =
  process.getuid?.() === 0
    ? "/var/lib/container-runtime"
    : join(homedir(), ".local/state/container-runtime");
const out = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};
const fail = (message: string, code = 1): never => {
  process.stderr.write(`container-runtime: ${message}\n`);
  process.exit(code);
};

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out(
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    );
}

async function loadAgent(file: string): Promise<{ agent: AgentSpec; ignored: string[] }> {
  const text = await readFile(file, "utf8").catch(() => fail(`cannot read ${file}`));
  const result = parseAgentSpecText(text);
  if (!result.ok) return fail(`${file}: ${result.error}`);
  return result;
}

/** Containers of the supervisor and of `run`. */
async function managedContainers(driver: DockerDriver): Promise<ObservedContainer[]> {
  return [
    ...(await driver.list({ [LABEL_OWNER]: "container-runtime" })),
    ...(await driver.list({ [LABEL_OWNER]: CLI_OWNER })),
  ];
}

/** An in-process supervisor on the state directory, for `apply` and `delete` when none is running. */
async function localSupervisor(stateDir: string): Promise<Supervisor> {
  const log = createLogger("container-runtime", { level: "warn" }, process.stderr);
  const supervisor = new Supervisor({
    stateDir,
    strategy: await detectStrategy(new DockerDriver()),
    log,
  });
  await supervisor.start();
  return supervisor;
}

/** A container by name, name of a replica, or id prefix, among the ones this tool manages. */
async function findContainer(driver: DockerDriver, ref: string): Promise<ObservedContainer> {
  const direct = await driver.inspect(ref);
  if (direct) return direct;
  const all = await managedContainers(driver);
  const found = all.find((c) => c.name === ref || c.id.startsWith(ref));
  return found ?? fail(`no container named ${ref}`);
}

/** The running supervisor's API, when one answers. */
async function supervisorApi(api: string): Promise<string | undefined> {
  try {
    const r = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(700) });
    return r.ok ? api : undefined;
  } catch {
    return undefined;
  }
}

const program = new Command("container-runtime")
  .description("Declarative containers on a real Docker engine.")
  .showHelpAfterError()
  .enablePositionalOptions();
const apiOption = () =>
  new Option("--api <url>", "supervisor API")
    .env("CONTAINER_RUNTIME_API")
    .default("http://127.0.0.1:7070");
const stateOption = () =>
  new Option("--state-dir <dir>", "where applied specs are kept")
    .env("CONTAINER_RUNTIME_STATE_DIR")
    .default(defaultStateDir);

const collect = (value: string, previous: string[]) => [...previous, value];

program
  .command("run")
  .description("Run a container (foreground: stream its logs, Ctrl-C stops it)")
  .argument("<image>")
  .argument("[command...]", "overrides the image's command")
  .option(
    "-p, --publish <port>",
    "publish a port: 8080, 80:8080, 8080:8080/udp, 127.0.0.1:80:8080",
    collect,
    [],
  )
  .option("-e, --env <K=V>", "set an environment variable", collect, [])
  .option("-v, --volume <SRC:DST>", "mount a volume or host path", collect, [])
  .option("--name <name>", "container name")
  .option("-d, --detach", "run in the background and print the container id")
  .option("--memory <limit>", "memory limit: 512Mi, 2Gi")
  .option("--cpus <limit>", "CPU limit: 500m, 2")
  .option("--restart <policy>", "no, always, on-failure, unless-stopped (Docker applies it)", "no")
  .option("--pull", "pull the image if it is missing")
  .option(
    "--stop-grace <duration>",
    "how long Ctrl-C waits for the container to stop before killing it",
    "10s",
  )
  .passThroughOptions()
  .action(
    async (
      image: string,
      command: string[],
      o: {
        publish: string[];
        env: string[];
        volume: string[];
        name?: string;
        detach?: boolean;
        memory?: string;
        cpus?: string;
        restart: string;
        pull?: boolean;
        stopGrace: string;
      },
    ) => {
      const driver = new DockerDriver();
      const env = Object.fromEntries(
        o.env.map((kv) => {
          const eq = kv.indexOf("=");
          return eq > 0 ? [kv.slice(0, eq), kv.slice(eq + 1)] : fail(`-e ${kv}: use NAME=value`);
        }),
      );
      const parsed = ContainerSpecSchema.safeParse({
        image,
        ...(command.length ? { command } : {}),
        env,
        ports: o.publish,
        volumes: o.volume,
        ...(o.memory ? { memory: o.memory } : {}),
        ...(o.cpus ? { cpus: o.cpus } : {}),
        restartPolicy: o.restart,
        pull: o.pull ?? false,
        stopGracePeriod: o.stopGrace,
      });
      if (!parsed.success)
        return fail(
          parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
          2,
        );
      const name = o.name ?? `run-${randomUUID().slice(0, 8)}`;
      const id = await driver.run(name, parsed.data, { [LABEL_OWNER]: CLI_OWNER });
      if (o.detach) return out(id);
      const abort = new AbortController();
      let interrupted = false;
      const stop = () => {
        interrupted = true;
        abort.abort();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const exit = (async () => {
        while (!abort.signal.aborted) {
          const c = await driver.inspect(id);
          if (!c || c.state === "exited" || c.state === "dead") return c?.exitCode ?? 1;
          await new Promise((r) => setTimeout(r, 200));
        }
        return 130;
      })();
      void driver.followLogs(
        id,
        (l) => (l.stream === "stdout" ? process.stdout : process.stderr).write(`${l.text}\n`),
        abort.signal,
        { tail: 1000 },
      );
      const code = await exit;
      abort.abort();
      if (interrupted) await driver.stop(id, durationMs(parsed.data.stopGracePeriod));
      await driver.remove(id);
      process.exitCode = interrupted ? 0 : code;
    },
  );

program
  .command("ps")
  .description("List managed containers")
  .option("--json", "JSON output")
  .action(async (o: { json?: boolean }) => {
    const driver = new DockerDriver();
    const all = await managedContainers(driver);
    if (o.json) return out(JSON.stringify(all, null, 2));
    table([
      ["NAME", "ID", "IMAGE", "STATE", "PORTS", "AGENT"],
      ...all.map((c) => [
        c.name,
        c.id.slice(0, 12),
        c.image,
        c.state + (c.exitCode !== undefined ? ` (${c.exitCode})` : ""),
        // Docker binds IPv4 and IPv6 separately: one entry per mapping.
        [
          ...new Set(
            c.ports.filter((p) => p.host).map((p) => `${p.host}->${p.container}/${p.protocol}`),
          ),
        ].join(",") || "-",
        c.labels["org.reconcile.agent"] ?? "-",
      ]),
    ]);
  });

program
  .command("logs")
  .description("Print a container's logs (stdout to stdout, stderr to stderr)")
  .argument("<name>")
  .option("-f, --follow", "keep following")
  .option("--tail <n>", "lines from the end", "200")
  .action(async (name: string, o: { follow?: boolean; tail: string }) => {
    const driver = new DockerDriver();
    const c = await findContainer(driver, name);
    if (!o.follow) {
      const logs = await driver.logs(c.id, { tail: Number(o.tail) });
      process.stdout.write(logs.stdout);
      process.stderr.write(logs.stderr);
      return;
    }
    const abort = new AbortController();
    process.once("SIGINT", () => abort.abort());
    await driver.followLogs(
      c.id,
      (l) => (l.stream === "stdout" ? process.stdout : process.stderr).write(`${l.text}\n`),
      abort.signal,
      { tail: Number(o.tail) },
    );
  });

for (const [verb, description] of [
  ["stop", "Stop a container (SIGTERM, then SIGKILL after the grace period)"],
  ["rm", "Remove a container (stopping it first)"],
] as const) {
  program
    .command(verb)
    .description(description)
    .argument("<name>")
    .option("-t, --time <duration>", "grace period", "10s")
    .action(async (name: string, o: { time: string }) => {
      const driver = new DockerDriver();
      const c = await findContainer(driver, name);
      await driver.stop(c.id, durationMs(o.time));
      if (verb === "rm") await driver.remove(c.id);
      out(c.name);
    });
}

program
  .command("inspect")
  .description("A container's observed state, as JSON")
  .argument("<name>")
  .action(async (name: string) =>
    out(JSON.stringify(await findContainer(new DockerDriver(), name), null, 2)),
  );

program
  .command("stats")
  .description("CPU and memory of managed containers")
  .option("--json", "JSON output")
  .action(async (o: { json?: boolean }) => {
    const driver = new DockerDriver();
    const running = (await managedContainers(driver)).filter((c) => c.state === "running");
    const stats = await Promise.all(
      running.map(async (c) => ({ name: c.name, ...(await driver.stats(c.id)) })),
    );
    if (o.json) return out(JSON.stringify(stats, null, 2));
    table([
      ["NAME", "CPU %", "MEMORY", "LIMIT"],
      ...stats.map((s) => [
        s.name,
        s.cpuPercent.toFixed(1),
        `${(s.memoryBytes / 2 ** 20).toFixed(1)}Mi`,
        s.memoryLimitBytes ? `${(s.memoryLimitBytes / 2 ** 20).toFixed(0)}Mi` : "-",
      ]),
    ]);
  });

program
  .command("validate")
  .description("Check an agent.yaml")
  .requiredOption("-f, --file <file>", "agent.yaml")
  .action(async (o: { file: string }) => {
    const { agent, ignored } = await loadAgent(o.file);
    out(
      `${o.file}: ok (${agent.metadata.name} ${agent.metadata.version}, ${replicaIds(agent).length} replica(s), image ${agent.spec.image ?? `${agent.metadata.name}:${agent.metadata.version}`})`,
    );
    if (ignored.length)
      out(`ignored (they only matter when building an image): ${ignored.join(", ")}`);
  });

program
  .command("apply")
  .description("Converge an agent.yaml's replicas; exits when healthy, or says why not")
  .requiredOption("-f, --file <file>", "agent.yaml")
  .addOption(apiOption())
  .addOption(stateOption())
  .option("--timeout <duration>", "how long to wait for healthy replicas", "2m")
  .action(async (o: { file: string; api: string; stateDir: string; timeout: string }) => {
    const { agent } = await loadAgent(o.file);
    const name = agent.metadata.name;
    const timeoutMs = durationMs(o.timeout);
    const api = await supervisorApi(o.api);
    const progress = (ready: number, total: number, states: string) =>
      out(`${name}: ${ready}/${total} ready ${states}`);
    if (api) {
      const r = await fetch(`${api}/v1/agents`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(agent),
      });
      const body = (await r.json()) as { error?: string; generation?: number };
      if (!r.ok) return fail(body.error ?? `supervisor answered ${r.status}`);
      out(`applied ${name} (generation ${body.generation}) through the supervisor at ${api}`);
      const end = Date.now() + timeoutMs;
      let last = "";
      for (;;) {
        const s = (await (await fetch(`${api}/v1/agents/${name}`)).json()) as {
          ready: number;
          replicas: number;
          replicaStatus: Array<{ id: string; state?: string; error?: string }>;
        };
        const states = s.replicaStatus.map((x) => `${x.id}=${x.state ?? "?"}`).join(" ");
        if (states !== last) progress(s.ready, s.replicas, states);
        last = states;
        if (s.ready === s.replicas) return out(`${name} is healthy`);
        if (Date.now() > end)
          return fail(
            `${name} is not healthy after ${o.timeout}: ${
              s.replicaStatus
                .filter((x) => x.error)
                .map((x) => `${x.id}: ${x.error}`)
                .join("; ") || states
            }`,
          );
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    const supervisor = await localSupervisor(o.stateDir);
    await supervisor.apply(agent);
    const result = await supervisor.waitReady(name, timeoutMs, (s) =>
      progress(
        s.ready,
        s.replicas,
        s.replicaStatus.map((x) => `${x.id}=${x.status?.state ?? "?"}`).join(" "),
      ),
    );
    await supervisor.stop();
    if (!result.ready) return fail(`${name} is not healthy: ${result.reason}`);
    out(
      `${name} is healthy (no supervisor is running: start \`container-runtime serve\` to keep it so)`,
    );
  });

program
  .command("delete")
  .description("Remove an agent.yaml's replicas")
  .requiredOption("-f, --file <file>", "agent.yaml")
  .addOption(apiOption())
  .addOption(stateOption())
  .action(async (o: { file: string; api: string; stateDir: string }) => {
    const { agent } = await loadAgent(o.file);
    const name = agent.metadata.name;
    const api = await supervisorApi(o.api);
    if (api) {
      const r = await fetch(`${api}/v1/agents/${name}`, { method: "DELETE" });
      if (r.status === 404) return fail(`${name} is not applied`);
      if (!r.ok) return fail(`supervisor answered ${r.status}`);
      return out(`deleted ${name}`);
    }
    const supervisor = await localSupervisor(o.stateDir);
    const deleted = await supervisor.delete(name);
    await supervisor.controller.idle();
    await supervisor.stop();
    if (!deleted) return fail(`${name} is not applied`);
    out(`deleted ${name}`);
  });

program
  .command("serve")
  .description("Run the supervisor: keep every applied agent converged; HTTP API and ECS endpoint")
  .addOption(new Option("--port <port>", "API port").env("CONTAINER_RUNTIME_PORT").default("7070"))
  .addOption(
    new Option("--host <host>", "API address").env("CONTAINER_RUNTIME_HOST").default("127.0.0.1"),
  )
  .addOption(stateOption())
  .addOption(
    new Option("--strategy <strategy>", "docker, process, or auto (docker when an engine answers)")
      .choices(["auto", "docker", "process"])
      .default("auto"),
  )
  .option("--secrets-dir <dir>", "directory of secret files for `from: secret`")
  .addOption(new Option("--log-level <level>").env("LOG_LEVEL").default("info"))
  .action(
    async (o: {
      port: string;
      host: string;
      stateDir: string;
      strategy: string;
      secretsDir?: string;
      logLevel: string;
    }) => {
      const log = createLogger("container-runtime", { level: o.logLevel });
      const driver = new DockerDriver();
      const strategy: Strategy =
        o.strategy === "auto" ? await detectStrategy(driver) : (o.strategy as Strategy);
      const supervisor = new Supervisor({
        stateDir: o.stateDir,
        strategy,
        driver,
        log,
        ...(o.secretsDir ? { secretsDir: o.secretsDir } : {}),
      });
      await supervisor.start();
      const ecs = strategy === "docker" ? new EcsService({ driver, log }) : undefined;
      await ecs?.start();
      const app = await buildApi(supervisor, ecs);
      const address = await app.listen({ port: Number(o.port), host: o.host });
      log.info({ address, strategy, stateDir: o.stateDir }, "supervisor listening");
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await app.close();
      ecs?.stop();
      await supervisor.stop();
    },
  );

program.parseAsync().catch((err: Error) => fail(err.message, 2));
