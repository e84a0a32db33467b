/**
 * One workload model: the driver interface, the workload resource kind, and the Docker and
 * local-process drivers. This entry never loads dockerode or an AWS SDK: the Docker driver
 * loads dockerode on first use, and `@org/workloads/docker` exports the engine client.
 */
export { commandArgv } from "./command.js";
export {
  type CreateRequest,
  LABEL_OWNER,
  LABEL_RESOURCE,
  LABEL_SPEC_HASH,
  type Labels,
  type ObservedWorkload,
  type ProbeResult,
  type WorkloadDriver,
  type WorkloadEvent,
  type WorkloadState,
} from "./driver.js";
export { type ContainerKindOptions, containerKind } from "./drivers/docker/container-kind.js";
export { demuxBuffer } from "./drivers/docker/demux.js";
export {
  type DockerDriverOptions,
  type DockerWorkloadDriver,
  dockerDriver,
} from "./drivers/docker/driver.js";
export type { DockerEngine, LogLine, ObservedContainer } from "./drivers/docker/engine.js";
export {
  DaemonUnreachableError,
  DockerError,
  ImageNotFoundError,
  NameConflictError,
  PortInUseError,
} from "./drivers/docker/errors.js";
export {
  InvalidSpecError,
  type PortMapping,
  parseCpus,
  parseMemory,
  parsePort,
  parseVolume,
  type VolumeMount,
} from "./drivers/docker/quantities.js";
export { defaultSocketPath, dockerEndpoint } from "./drivers/docker/socket.js";
export {
  type ContainerSpec,
  type ContainerSpecInput,
  ContainerSpecSchema,
  CpuLimitSchema,
  MemoryLimitSchema,
} from "./drivers/docker/spec.js";
export {
  type ProcessDriverOptions,
  type ProcessSpec,
  type ProcessSpecInput,
  ProcessSpecSchema,
  processDriver,
} from "./drivers/process/driver.js";
export {
  processAlive,
  processGroupAlive,
  processStartTicks,
  spawnSupervised,
  stopProcessGroup,
  supervisedState,
} from "./drivers/process/supervise.js";
export {
  CRASH_LOOP_BACKOFF,
  DEFAULT_MIN_RUN_MS,
  type WorkloadKindOptions,
  workloadKind,
  workloadName,
} from "./kind.js";
export {
  type HealthCheck,
  HealthCheckSchema,
  type LifecycleSpec,
  LifecycleSpecSchema,
  type RestartPolicy,
  RestartPolicySchema,
} from "./lifecycle.js";
