#!/usr/bin/env node
import { collect, createProgram, print, runProgram } from "@org/cli";
import { type Command, Option } from "commander";
import type { RunOptions } from "./commands/run.js";
import {
  DEFAULT_CONFIG_FILE,
  loadRuntimeConfig,
  printableConfig,
  type RuntimeConfig,
  type RuntimeFlags,
} from "./config.js";

// Commands are imported when chosen, so `--help` and `--print-config` load neither Docker nor
// Fastify nor the AWS schemas.
const agents = () => import("./commands/agents.js");
const containers = () => import("./commands/containers.js");

const program = createProgram(
  "container-runtime",
  "Declarative containers on a real Docker engine.",
)
  // `run IMAGE CMD...` passes the options after IMAGE to the container's command.
  .enablePositionalOptions();

/** `--config` and `--print-config`, on the program and on every command. */
const configOptions = (command: Command) =>
  command
    .option(
      "-c, --config <file>",
      `YAML or JSON config file (default: ./${DEFAULT_CONFIG_FILE} if present)`,
    )
    .option("--print-config", "print the resolved configuration, secrets masked, and exit");

/** The configuration `command` runs with: file, environment, then its own and the program's flags. */
async function configFor(command: Command): Promise<{ config: RuntimeConfig; printOnly: boolean }> {
  const flags = command.optsWithGlobals<
    RuntimeFlags & { config?: string; printConfig?: boolean }
  >();
  return {
    config: await loadRuntimeConfig(flags.config, flags),
    printOnly: flags.printConfig === true,
  };
}

/** Wraps a command's action: runs it with its configuration, or with `--print-config` prints that instead. */
function withConfig<A extends unknown[]>(
  run: (config: RuntimeConfig, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const { config, printOnly } = await configFor(args.at(-1) as Command);
    if (printOnly) return print(printableConfig(config));
    await run(config, ...args);
  };
}

const apiOption = () =>
  new Option("--api <url>", "supervisor API (CONTAINER_RUNTIME_API; default http://<host>:<port>)");
const stateOption = () =>
  new Option("--state-dir <dir>", "where applied specs are kept (CONTAINER_RUNTIME_STATE_DIR)");
const ownerOption = () =>
  new Option(
    "--owner <name>",
    "the supervisor's owner label (CONTAINER_RUNTIME_OWNER; default derived from the state directory)",
  );
/** The state directory and owner, which say whose replicas a command sees. */
const ownerOptions = (command: Command) =>
  command.addOption(stateOption()).addOption(ownerOption());

configOptions(program).action(async (_options, command: Command) => {
  const [unknown] = program.args;
  if (unknown) program.error(`error: unknown command '${unknown}'`);
  if (!program.opts().printConfig) program.help();
  print(printableConfig((await configFor(command)).config));
});

configOptions(
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
    .option(
      "--restart <policy>",
      "no, always, on-failure, unless-stopped (Docker applies it)",
      "no",
    )
    .option("--pull", "pull the image if it is missing")
    .option(
      "--stop-grace <duration>",
      "how long Ctrl-C waits for the container to stop before killing it",
      "10s",
    )
    .passThroughOptions(),
).action(
  withConfig(async (config, image: string, command: string[], o: RunOptions) =>
    (await import("./commands/run.js")).runContainer(image, command, o, config),
  ),
);

configOptions(
  ownerOptions(
    program
      .command("ps")
      .description("List this supervisor's containers and process replicas, and `run`'s containers")
      .option("--json", "JSON output"),
  ),
).action(
  withConfig(async (config, o: { json?: boolean }) =>
    (await containers()).listContainers(o, config),
  ),
);

configOptions(
  program
    .command("logs")
    .description("Print a container's logs (stdout to stdout, stderr to stderr)")
    .argument("<name>")
    .option("-f, --follow", "keep following")
    .option("--tail <n>", "lines from the end", "200"),
).action(
  withConfig(async (config, name: string, o: { follow?: boolean; tail: string }) =>
    (await containers()).showLogs(name, o, config),
  ),
);

for (const [verb, description] of [
  ["stop", "Stop a container (SIGTERM, then SIGKILL after the grace period)"],
  ["rm", "Remove a container (stopping it first)"],
] as const) {
  configOptions(
    program
      .command(verb)
      .description(description)
      .argument("<name>")
      .option("-t, --time <duration>", "grace period", "10s"),
  ).action(
    withConfig(async (config, name: string, o: { time: string }) =>
      (await containers()).stopContainer(name, { time: o.time, remove: verb === "rm" }, config),
    ),
  );
}

configOptions(
  program
    .command("inspect")
    .description("A container's observed state, as JSON")
    .argument("<name>"),
).action(
  withConfig(async (config, name: string) => (await containers()).inspectContainer(name, config)),
);

configOptions(
  ownerOptions(
    program
      .command("stats")
      .description("CPU and memory of managed containers")
      .option("--json", "JSON output"),
  ),
).action(
  withConfig(async (config, o: { json?: boolean }) => (await containers()).showStats(o, config)),
);

program
  .command("validate")
  .description("Check an agent.yaml")
  .requiredOption("-f, --file <file>", "agent.yaml")
  .action(async (o: { file: string }) => (await agents()).validateAgent(o.file));

configOptions(
  program
    .command("apply")
    .description("Converge an agent.yaml's replicas; exits when healthy, or says why not")
    .requiredOption("-f, --file <file>", "agent.yaml")
    .addOption(apiOption())
    .addOption(stateOption())
    .addOption(ownerOption())
    .option("--timeout <duration>", "how long to wait for healthy replicas", "2m"),
).action(
  withConfig(async (config, o: { file: string; timeout: string }) =>
    (await agents()).applyAgent(o.file, o, config),
  ),
);

configOptions(
  program
    .command("delete")
    .description("Remove an agent.yaml's replicas")
    .requiredOption("-f, --file <file>", "agent.yaml")
    .addOption(apiOption())
    .addOption(stateOption())
    .addOption(ownerOption()),
).action(
  withConfig(async (config, o: { file: string }) => (await agents()).deleteAgent(o.file, config)),
);

configOptions(
  program
    .command("serve")
    .description(
      "Run the supervisor: keep every applied agent converged; HTTP API and ECS endpoint",
    )
    .option("--port <port>", "API port (CONTAINER_RUNTIME_PORT; default 7070)")
    .option("--host <host>", "API address (CONTAINER_RUNTIME_HOST; default 127.0.0.1)")
    .addOption(stateOption())
    .addOption(ownerOption())
    .addOption(
      new Option(
        "--strategy <strategy>",
        "docker, process, or auto: docker when an engine answers (CONTAINER_RUNTIME_STRATEGY)",
      ).choices(["auto", "docker", "process"]),
    )
    .option("--secrets-dir <dir>", "directory of secret files for `from: secret`")
    .option("--log-level <level>", "log level (CONTAINER_RUNTIME_LOG_LEVEL or LOG_LEVEL)"),
).action(withConfig(async (config) => (await import("./commands/serve.js")).serve(config)));

// Set last, so the commands above do not inherit it: the program's own action reports an
// unknown command itself instead of commander's "too many arguments".
program.allowExcessArguments();
await runProgram(program);
