import type { BackoffPolicy, Logger } from "@org/reconcile-core";
import { workloadKind } from "../../kind.js";
import { dockerDriver } from "./driver.js";
import type { DockerEngine } from "./engine.js";

export interface ContainerKindOptions {
  /** The engine client; default one on `socketPath` (or DOCKER_HOST), made on first use. */
  engine?: DockerEngine;
  socketPath?: string;
  /** Who manages these containers (an agent id, a runtime name): the owner label. */
  owner: string;
  /** Container names are `<prefix><resource id>`. Default `<owner>-`. */
  namePrefix?: string;
  minRunMs?: number;
  crashBackoff?: BackoffPolicy;
  log?: Logger;
}

/** The `Container` resource kind: the workload kind on the Docker driver. dockerode loads on first use. */
export function containerKind(options: ContainerKindOptions) {
  const { engine, socketPath, ...rest } = options;
  return workloadKind({
    ...rest,
    kindName: "Container",
    driver: dockerDriver({
      ...(engine ? { engine } : {}),
      ...(socketPath ? { socketPath } : {}),
    }),
  });
}
