import type { AnyResourceKind, Logger, WatcherRegistry } from "@org/reconcile-core";
import type { AgentConfig } from "./config.js";
import { fileKind } from "./kinds/file.js";
import { machineKind } from "./kinds/machine.js";
import { scriptKind } from "./kinds/script.js";
import { systemctlCommand, systemdUnitKind } from "./kinds/systemd.js";
import { AgentKindRegistry, type ResourceEvents } from "./resource-events.js";

/**
 * The resource kinds this agent reconciles. The Container kind, and the Docker client under
 * it, is loaded only when `docker.enabled`: a device without Docker never loads dockerode.
 * With it comes Docker's event stream, started by `watch` once the controller runs.
 */
export async function agentKinds(
  config: AgentConfig,
  log: Logger,
  watchers: WatcherRegistry,
): Promise<AgentKindRegistry> {
  const kinds: AnyResourceKind[] = [
    fileKind({ allowedRoots: config.allowedRoots, maxBytes: config.maxFileBytes }),
    scriptKind({ stateDir: config.stateDir, allowed: config.scripts.allowed, log }),
    machineKind({
      machinesDir: config.machinesDir,
      allowExec: config.scripts.allowed,
      watchers,
    }),
    systemdUnitKind({
      systemctl: systemctlCommand(config.systemd.systemctl),
      unitDir: config.systemd.unitDir,
    }),
  ];
  const events: ResourceEvents[] = [];
  if (config.docker.enabled) {
    const { containerKindFor } = await import("./kinds/container.js");
    const container = await containerKindFor(config, log);
    kinds.push(container.kind);
    events.push(container.events);
  }
  return new AgentKindRegistry(kinds, events, log);
}
