import type { Logger } from "@org/reconcile-core";
import { abortableDelay } from "@org/reconcile-core/internal";
import { dockerDriver, LABEL_OWNER, LABEL_RESOURCE, workloadKind } from "@org/workloads";
import type { AgentConfig } from "../config.js";
import type { ResourceEvents } from "../resource-events.js";

/** How long to wait before watching Docker's events again after the stream failed. */
const REWATCH_MS = 1_000;

/**
 * The agent's `Container` kind: the one workload kind on the Docker driver, owned by
 * `edge-agent-<id>` with containers named `<id>-<resource id>`, and the Docker event stream
 * that makes a container that exited or was removed by hand reconciled at once rather than at
 * the next resync (as the container runtime does). The Docker client (dockerode) is loaded
 * here, when the agent enables Docker, so a broken install fails at start; an agent that never
 * calls this never loads it.
 */
export async function containerKindFor(
  config: Pick<AgentConfig, "id" | "docker">,
  log: Logger,
): Promise<{ kind: ReturnType<typeof workloadKind>; events: ResourceEvents }> {
  const { DockerEngine } = await import("@org/workloads/docker");
  const owner = `edge-agent-${config.id}`;
  const driver = dockerDriver({
    engine: new DockerEngine(
      config.docker.socketPath ? { socketPath: config.docker.socketPath } : {},
    ),
  });
  const kind = workloadKind({
    kindName: "Container",
    driver,
    owner,
    namePrefix: `${config.id}-`,
    log,
  });
  const events: ResourceEvents = async (reconcileNow, signal) => {
    while (!signal.aborted) {
      try {
        await driver.events?.(
          { [LABEL_OWNER]: owner },
          (e) => {
            if (e.action !== "exited" && e.action !== "removed") return;
            const id = e.labels[LABEL_RESOURCE];
            if (id) reconcileNow(id);
          },
          signal,
        );
      } catch (err) {
        if (!signal.aborted)
          log.warn(
            { error: (err as Error).message },
            "the Docker event stream failed; containers are repaired at the next resync until it is back",
          );
      }
      if (!signal.aborted) await abortableDelay(REWATCH_MS, signal);
    }
  };
  return { kind, events };
}
