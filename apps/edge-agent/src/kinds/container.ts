import type { Logger } from "@org/reconcile-core";
import { containerKind } from "@org/workloads";
import type { AgentConfig } from "../config.js";

/**
 * The agent's `Container` kind: the one workload kind on the Docker driver, owned by
 * `edge-agent-<id>` with containers named `<id>-<resource id>`. The Docker client (dockerode)
 * is loaded here, when the agent enables Docker, so a broken install fails at start; an agent
 * that never calls this never loads it.
 */
export async function containerKindFor(config: Pick<AgentConfig, "id" | "docker">, log: Logger) {
  const { DockerEngine } = await import("@org/workloads/docker");
  return containerKind({
    engine: new DockerEngine(
      config.docker.socketPath ? { socketPath: config.docker.socketPath } : {},
    ),
    owner: `edge-agent-${config.id}`,
    namePrefix: `${config.id}-`,
    log,
  });
}
