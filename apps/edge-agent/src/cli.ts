#!/usr/bin/env node
import { Command, Option } from "commander";
import { createLogger } from "@org/reconcile-core";
import { EdgeAgent } from "./agent.js";
import { runMachines, untilSignal, validateMachines, watchMachines } from "./commands/machine.js";
import { loadAgentConfig, printableConfig } from "./config.js";

const program = new Command("edge-agent")
  .description("Converge a device on its desired state and run its autonomous machines.")
  .showHelpAfterError();

const machine = program
  .command("machine")
  .description("Autonomous machines (Choria-compatible machine.yaml)");

machine
  .command("validate")
  .description("Check machine.yaml files (or machine directories): schema and names")
  .argument("<files...>", "machine.yaml files or directories holding one")
  .action(async (files: string[]) => {
    process.exitCode = await validateMachines(files, (line) => process.stdout.write(`${line}\n`));
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
      process.exitCode = await runMachines(dir, options);
    },
  );

machine
  .command("watch")
  .description("Live view of transitions and watcher runs from a fleet")
  .addOption(
    new Option("--nats <url>", "NATS server").env("NATS_URL").default("nats://127.0.0.1:4222"),
  )
  .option("--machine <name>", "only this machine")
  .option("--identity <id>", "only this node")
  .option("--type <type>", "only watcher runs of this type")
  .option("--json", "print one CloudEvent per line")
  .action(
    async (options: {
      nats: string;
      machine?: string;
      identity?: string;
      type?: string;
      json?: boolean;
    }) => {
      process.exitCode = await watchMachines(options);
    },
  );

program
  .command("run")
  .description("Run the agent daemon")
  .option("-c, --config <file>", "YAML or JSON config file")
  .option("--id <id>", "agent id (EDGE_AGENT_ID)")
  .option("--nats <url>", "NATS server URL (EDGE_AGENT_NATS_URL)")
  .option("--machines-dir <dir>", "directory of machines (EDGE_AGENT_MACHINES_DIR)")
  .option("--state-dir <dir>", "agent state directory (EDGE_AGENT_STATE_DIR)")
  .option("--log-level <level>", "log level (EDGE_AGENT_LOG_LEVEL)")
  .option("--print-config", "print the resolved configuration, secrets masked, and exit")
  .action(
    async (options: {
      config?: string;
      printConfig?: boolean;
      id?: string;
      nats?: string;
      machinesDir?: string;
      stateDir?: string;
      logLevel?: string;
    }) => {
      const config = await loadAgentConfig(options.config, options);
      if (options.printConfig) {
        process.stdout.write(`${printableConfig(config)}\n`);
        return;
      }
      const log = createLogger("edge-agent", { level: config.logLevel });
      const agent = new EdgeAgent(config, log);
      await agent.start();
      const signal = await untilSignal();
      log.info({ signal }, "stopping");
      await agent.stop();
    },
  );

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`edge-agent: ${err.message}\n`);
  process.exit(2);
});
