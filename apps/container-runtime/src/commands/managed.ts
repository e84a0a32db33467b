import { join } from "node:path";
import { CliError } from "@org/cli";
import { LABEL_OWNER, LABEL_RESOURCE, type ObservedWorkload, processDriver } from "@org/workloads";
import { DockerEngine, type ObservedContainer } from "@org/workloads/docker";
import { z } from "zod";
import type { RuntimeConfig } from "../config.js";
import { CLI_OWNER, resolveOwner } from "../owner.js";

export { CLI_OWNER };

/** The Docker engine client on the configured engine (socket, else DOCKER_HOST). */
export function dockerEngine(config: RuntimeConfig): DockerEngine {
  return new DockerEngine(config.docker.socketPath ? { socketPath: config.docker.socketPath } : {});
}

/** The owner of the supervisor on the configured state directory (see `resolveOwner`); `record: false` for commands that only read. */
export function ownerOf(
  config: RuntimeConfig,
  options: { record?: boolean } = {},
): Promise<string> {
  return resolveOwner(config.stateDir, config.owner, options);
}

/** Containers of this state directory's supervisor and of `run`. */
export async function managedContainers(
  driver: DockerEngine,
  owner: string,
): Promise<ObservedContainer[]> {
  return [
    ...(await driver.list({ [LABEL_OWNER]: owner })),
    ...(await driver.list({ [LABEL_OWNER]: CLI_OWNER })),
  ];
}

/** Process replicas (the process strategy) of this state directory's supervisor. */
export function managedProcesses(
  config: RuntimeConfig,
  owner: string,
): Promise<ObservedWorkload[]> {
  return processDriver({ dir: join(config.stateDir, "processes") }).list({ [LABEL_OWNER]: owner });
}

/** Replica id of a workload (its resource id), when it is a supervisor's replica. */
export const replicaOf = (labels: Record<string, string>) => labels[LABEL_RESOURCE];

/** A container by name, name of a replica, or id prefix, among the ones this tool manages. */
export async function findContainer(
  driver: DockerEngine,
  ref: string,
  owner: string,
): Promise<ObservedContainer> {
  const direct = await driver.inspect(ref);
  if (direct) return direct;
  const all = await managedContainers(driver, owner);
  const found = all.find((c) => c.name === ref || c.id.startsWith(ref));
  if (!found) throw new CliError(`no container named ${ref} (\`container-runtime ps\` lists them)`);
  return found;
}

const ReplicaStates = z.array(
  z.object({
    replicaStatus: z.array(
      z.object({ id: z.string(), state: z.string().optional(), health: z.string().optional() }),
    ),
  }),
);

/**
 * Each replica's state and health as the running supervisor sees them (only it runs the health
 * checks); empty when no supervisor answers at `config.api.url`.
 */
export async function supervisorReplicas(
  config: RuntimeConfig,
): Promise<Map<string, { state?: string; health?: string }>> {
  const byId = new Map<string, { state?: string; health?: string }>();
  try {
    const r = await fetch(`${config.api.url}/v1/agents`, { signal: AbortSignal.timeout(700) });
    if (!r.ok) return byId;
    for (const agent of ReplicaStates.parse(await r.json()))
      for (const { id, ...rest } of agent.replicaStatus) byId.set(id, rest);
  } catch {
    // No supervisor (or not ours): Docker's view alone.
  }
  return byId;
}
