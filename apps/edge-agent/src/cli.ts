#!/usr/bin/env node
import { mkdir, readFile } from "node:fs/promises";
import {
  collect,
  createProgram,
  jsonOption,
  print,
  runProgram,
  UsageError,
  waitForSignal,
} from "@org/cli";
import { createLogger, DurationSchema, durationMs } from "@org/reconcile-core";
import { type Command, Option } from "commander";
import { CommandError } from "./commands/errors.js";
import type { FleetOptions } from "./commands/fleet.js";
import { type AgentFlags, loadAgentConfig, printableConfig } from "./config.js";

// Commands are imported when chosen, so `--help` loads neither NATS nor Docker.
const machines = () => import("./commands/machine.js");
const fleet = () => import("./commands/fleet.js");

const program = createProgram(
  "edge-agent",
  "Converge a device on its desired state and run its autonomous machines.",
  import.meta.url,
);

const machine = program
  .command("machine")
  .description("Autonomous machines (Choria-compatible machine.yaml)");

machine
  .command("validate")
  .description("Check machine.yaml files (or machine directories): schema and names")
  .argument("<files...>", "machine.yaml files or directories holding one")
  .addOption(jsonOption())
  .option("--strict", "refuse what Choria ignores (unknown keys, unimplemented properties)")
  .action(async (files: string[], options: { json?: boolean; strict?: boolean }) => {
    process.exitCode = await (await machines()).validateMachines(files, print, options);
  });

machine
  .command("run")
  .description("Run one machine, or a directory of machines, locally with no middleware")
  .argument("<dir>", "a machine directory, or a directory of machine directories")
  .option("--json", "print one CloudEvent per line instead of human lines")
  .option("--identity <id>", "identity to report in events (default: host name)")
  .option("--log-level <level>", "log level on stderr", "warn")
  .action(
    async (dir: string, options: { json?: boolean; identity?: string; logLevel?: string }) => {
      process.exitCode = await (await machines()).runMachines(dir, options);
    },
  );

machine
  .command("watch")
  .description("Live view of transitions and watcher runs from a fleet")
  .addOption(
    new Option("--nats <url>", "NATS server").env("NATS_URL").default("nats://127.0.0.1:4222"),
  )
  .addOption(new Option("--token <token>", "NATS token").env("NATS_TOKEN"))
  .option("--machine <name>", "only this machine")
  .option("--identity <id>", "only this node")
  .option("--type <type>", "only watcher runs of this type")
  .option("--json", "print one CloudEvent per line")
  .action(
    async (
      options: {
        nats: string;
        token?: string;
        machine?: string;
        identity?: string;
        type?: string;
        json?: boolean;
      },
      command: Command,
    ) => {
      // Under --json a failure is one line of JSON on stdout too (runProgram prints it).
      process.exitCode = await (await machines()).watchMachines({
        ...options,
        natsFrom: natsFrom(command),
      });
    },
  );

program
  .command("run")
  .description("Run the agent daemon")
  .option("-c, --config <file>", "YAML or JSON config file")
  .option("--id <id>", "agent id (EDGE_AGENT_ID)")
  .option("--nats <url>", "NATS server URL (EDGE_AGENT_NATS_URL)")
  .option(
    "--allowed-root <dir>",
    "a root File resources may live under (repeatable; EDGE_AGENT_ALLOWED_ROOTS=a:b)",
    collect,
    [],
  )
  .option("--resync <duration>", "drift-check interval, e.g. 5s (EDGE_AGENT_RESYNC)")
  .option("--manifest <file>", "take the manifest from this local file instead of NATS")
  .option("--machines-dir <dir>", "directory of machines (EDGE_AGENT_MACHINES_DIR)")
  .option("--state-dir <dir>", "agent state directory (EDGE_AGENT_STATE_DIR)")
  .option("--metrics-port <port>", "serve Prometheus metrics (EDGE_AGENT_METRICS_PORT)")
  .option("--log-level <level>", "log level (EDGE_AGENT_LOG_LEVEL)")
  .option("--print-config", "print the resolved configuration, secrets masked, and exit")
  .action(async (options: AgentFlags & { config?: string; printConfig?: boolean }) => {
    const config = await loadAgentConfig(options.config, options);
    if (options.printConfig) {
      print(printableConfig(config));
      return;
    }
    // The agent's own directories, made here so a failure names the setting to change.
    for (const [setting, dir] of [
      ["stateDir", config.stateDir],
      ["machinesDir", config.machinesDir],
    ] as const)
      await mkdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
        throw new CommandError(
          "ConfigError",
          `${setting}: cannot create ${dir}: ${err.code ?? err.message}. Set ${setting} to a directory the agent may write${options.config ? ` (a relative path in ${options.config} is relative to that file's directory)` : ""}.`,
          { setting, path: dir },
        );
      });
    const log = createLogger("edge-agent", { level: config.logLevel });
    const { EdgeAgent } = await import("./agent.js");
    const agent = await EdgeAgent.create(config, log);
    // Listening before start, so a stop asked for during start-up ends it cleanly once started.
    const stopAsked = waitForSignal();
    await agent.start();
    const signal = await stopAsked;
    log.info({ signal }, "stopping");
    await agent.stop();
    // Stopped, so nothing left can matter; but a socket nats.js never closes (a dial that timed
    // out before the server spoke) would keep the process, and systemd, waiting for ever.
    setTimeout(() => process.exit(), 1_000).unref();
  });

/** Where `--nats` came from (cli, env, default), so a connection error can say what to change. */
const natsFrom = (command: Command) => command.getOptionValueSource("nats");

const fleetOptions = (command: Command) =>
  command
    .addOption(
      new Option("--nats <url>", "NATS server").env("NATS_URL").default("nats://127.0.0.1:4222"),
    )
    .addOption(
      new Option("--bucket <name>", "the fleet's KV bucket")
        .env("EDGE_AGENT_BUCKET")
        .default("fleet"),
    )
    .addOption(new Option("--token <token>", "NATS token").env("NATS_TOKEN"));

fleetOptions(
  program
    .command("apply")
    .description("Publish a manifest for an agent: generation = current + 1, compare-and-set")
    .requiredOption("--agent <id>", "the agent")
    .requiredOption("-f, --file <file>", "manifest (YAML or JSON; its generation is assigned)")
    .option("--sign-key <file>", "sign it with this ed25519 private key (PEM)")
    .option(
      "--wait",
      "wait for the agent's verdict: exit 0 once every resource was processed and none failed, 1 on a rejection, a failure or no answer",
    )
    .option("--timeout <duration>", "how long --wait waits, e.g. 30s or 5m", "2m"),
).action(
  async (
    o: FleetOptions & {
      agent: string;
      file: string;
      signKey?: string;
      wait?: boolean;
      timeout: string;
    },
    command: Command,
  ) => {
    if (!DurationSchema.safeParse(o.timeout).success)
      throw new UsageError(`--timeout ${o.timeout}: use a duration such as 30s, 5m or 1h`);
    const { applyManifest, readSigningKey } = await fleet();
    const text = await readFile(o.file, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new CommandError(
        "ManifestUnreadable",
        `cannot read the manifest -f ${o.file}: ${err.code ?? err.message}`,
        { file: o.file },
        2,
      );
    });
    const signKey = o.signKey ? await readSigningKey(o.signKey) : undefined;
    process.exitCode = await applyManifest(
      o.agent,
      text,
      o.file,
      {
        ...o,
        natsFrom: natsFrom(command),
        ...(signKey ? { signKey } : {}),
        ...(o.wait ? { waitMs: durationMs(o.timeout) } : {}),
      },
      print,
    );
  },
);

fleetOptions(
  program
    .command("status")
    .description("One agent's status, per resource")
    .argument("<id>")
    .addOption(jsonOption()),
).action(async (id: string, o: FleetOptions & { json?: boolean }, command: Command) => {
  process.exitCode = await (await fleet()).showStatus(
    id,
    { ...o, natsFrom: natsFrom(command) },
    print,
  );
});

fleetOptions(
  program
    .command("fleet")
    .description("One row per agent: generations, counts, heartbeat age, converged")
    .addOption(jsonOption()),
).action(async (o: FleetOptions & { json?: boolean }, command: Command) => {
  process.exitCode = await (await fleet()).showFleet({ ...o, natsFrom: natsFrom(command) }, print);
});

program
  .command("keygen")
  .description("Make an ed25519 key pair for signing manifests")
  .option("--out <dir>", "where to write NAME.key and NAME.pub", ".")
  .option("--name <name>", "file name stem", "fleet-signing")
  .action(async (o: { out: string; name: string }) => {
    process.exitCode = await (await fleet()).keygen(o.out, o.name, print);
  });

await runProgram(program);
