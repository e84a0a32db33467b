import { stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import {
  builtinWatchers,
  type CloudEvent,
  createLogger,
  loadMachineFile,
  MACHINE_FILE,
  MachineManager,
  MachineRuntime,
  machineEventPattern,
  MemoryEventBus,
  type WatcherRegistry,
} from "@org/reconcile-core";
import { CliError, print, waitForSignal } from "@org/cli";
import { formatMachineEvent } from "../format.js";

/** Resolves a path given on the command line to a machine.yaml (a directory means its machine.yaml). */
async function machineFile(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  return info?.isDirectory() ? join(path, MACHINE_FILE) : path;
}

/** One file's verdict, as `machine validate --json` prints it. */
export interface MachineValidation {
  path: string;
  ok: boolean;
  machine?: string;
  version?: string;
  /** Why it is refused (under `--strict`, its warnings too). */
  problems: string[];
  /** What Choria accepts but should be changed: unknown keys, unimplemented Choria properties, deprecated keys. */
  warnings: string[];
}

/**
 * `machine validate FILE...`: schema and semantic checks; returns the exit code. Warnings (keys
 * Choria ignores, and so do we) are printed; `strict` makes them errors.
 */
export async function validateMachines(
  paths: string[],
  out: (line: string) => void,
  options: { json?: boolean; strict?: boolean } = {},
): Promise<number> {
  const registry = builtinWatchers();
  const results: MachineValidation[] = [];
  for (const path of paths) {
    const result = await loadMachineFile(await machineFile(path), registry);
    const refused = !result.ok || (options.strict === true && result.warnings.length > 0);
    const problems = [
      ...(result.ok ? [] : result.error.problems),
      ...(options.strict ? result.warnings.map((w) => `${w} (--strict)`) : []),
    ];
    results.push({
      path,
      ok: !refused,
      ...(result.ok
        ? { machine: result.definition.spec.name, version: result.definition.spec.version }
        : result.error.machine
          ? { machine: result.error.machine }
          : {}),
      problems,
      warnings: options.strict ? [] : result.warnings,
    });
    if (options.json) continue;
    if (result.ok && !refused) {
      const { spec, states } = result.definition;
      out(
        `${path}: ok (${spec.name} ${spec.version}: ${states.size} states, ${spec.transitions.length} transitions, ${spec.watchers.length} watchers)`,
      );
    } else {
      out(`${path}: invalid`);
      for (const problem of problems) out(`  - ${problem}`);
    }
    if (!options.strict) for (const warning of result.warnings) out(`  warning: ${warning}`);
  }
  if (options.json) out(JSON.stringify(results, null, 2));
  return results.some((r) => !r.ok) ? 1 : 0;
}

const printer = (json: boolean, watchers: WatcherRegistry) => (event: CloudEvent) => {
  print(json ? JSON.stringify(event) : formatMachineEvent(event, watchers));
};

/** `machine run DIR`: one machine, or a directory of machines, with no middleware; events to stdout. */
export async function runMachines(
  path: string,
  options: { json?: boolean; identity?: string; logLevel?: string },
): Promise<number> {
  const dir = resolve(path);
  const log = createLogger("edge-agent", { level: options.logLevel ?? "warn" }, process.stderr);
  const bus = new MemoryEventBus({ log });
  // One registry for loading, running and printing, as the agent does.
  const registry = builtinWatchers();
  bus.subscribe("choria.machine.>", printer(options.json ?? false, registry));
  const identity = options.identity ?? hostname();
  let stop: () => Promise<void>;
  if (!(await isDirectory(dir)))
    throw new CliError(
      `${path}: no such directory. Give a machine's directory (one with a ${MACHINE_FILE}) or a directory of them.`,
      1,
      "MachineDirNotFound",
      { path: dir },
    );
  if (await exists(join(dir, MACHINE_FILE))) {
    const result = await loadMachineFile(join(dir, MACHINE_FILE), registry);
    if (!result.ok)
      throw new CliError(result.error.message, 1, "MachineInvalid", {
        path: join(dir, MACHINE_FILE),
        warnings: result.warnings,
      });
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    const runtime = new MachineRuntime({
      definition: result.definition,
      directory: dir,
      identity,
      bus,
      log,
    });
    await runtime.start();
    stop = () => runtime.stop();
  } else {
    const manager = new MachineManager({
      directory: dir,
      identity,
      registry,
      bus,
      log,
      onWarnings: (directory, machine, warnings) => {
        for (const warning of warnings)
          process.stderr.write(`warning: ${machine} (${directory}): ${warning}\n`);
      },
    });
    await manager.start();
    if (manager.status().length === 0)
      process.stderr.write(
        `no machines found in ${dir} (each needs a subdirectory with a ${MACHINE_FILE})\n`,
      );
    stop = () => manager.stop();
  }
  await waitForSignal();
  await stop();
  await bus.close();
  return 0;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

const isDirectory = (path: string) =>
  stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );

/** `machine watch`: transitions and watcher runs from a fleet, live, one line each. */
export async function watchMachines(options: {
  nats: string;
  /** Where `nats` came from (commander's value source: cli, env, default), for error hints. */
  natsFrom?: string;
  token?: string;
  machine?: string;
  identity?: string;
  type?: string;
  json?: boolean;
}): Promise<number> {
  // NATS is loaded only by the one command that needs it.
  const { NatsEventBus } = await import("@org/transport-nats");
  const { connectForCommand } = await import("./connect.js");
  const nc = await connectForCommand(
    {
      servers: options.nats,
      name: "edge-agent machine watch",
      ...(options.token ? { token: options.token } : {}),
    },
    options.natsFrom,
  );
  const bus = new NatsEventBus().attach(nc);
  const pattern = machineEventPattern({
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.machine ? { machine: options.machine } : {}),
    ...(options.type ? { type: options.type } : {}),
  });
  bus.subscribe(pattern, printer(options.json ?? false, builtinWatchers()));
  await nc.flush();
  process.stderr.write(`watching ${pattern} on ${nc.getServer()}\n`);
  await waitForSignal();
  await bus.close();
  await nc.drain();
  return 0;
}
