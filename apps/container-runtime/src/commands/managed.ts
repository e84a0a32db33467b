import { DockerEngine, LABEL_OWNER, type ObservedContainer } from "@org/workloads/docker";
import { CliError } from "@org/cli";
import type { RuntimeConfig } from "../config.js";

/** Owner label of containers started by `run` (the supervisor's are "container-runtime"). */
export const CLI_OWNER = "container-runtime-cli";

/** The Docker engine client on the configured engine socket. */
export function dockerEngine(config: RuntimeConfig): DockerEngine {
  return new DockerEngine(config.docker.socketPath ? { socketPath: config.docker.socketPath } : {});
}

/** Containers of the supervisor and of `run`. */
export async function managedContainers(driver: DockerEngine): Promise<ObservedContainer[]> {
  return [
    ...(await driver.list({ [LABEL_OWNER]: "container-runtime" })),
    ...(await driver.list({ [LABEL_OWNER]: CLI_OWNER })),
  ];
}

/** A container by name, name of a replica, or id prefix, among the ones this tool manages. */
export async function findContainer(driver: DockerEngine, ref: string): Promise<ObservedContainer> {
  const direct = await driver.inspect(ref);
  if (direct) return direct;
  const all = await managedContainers(driver);
  const found = all.find((c) => c.name === ref || c.id.startsWith(ref));
  if (!found) throw new CliError(`no container named ${ref} (\`container-runtime ps\` lists them)`);
  return found;
}
