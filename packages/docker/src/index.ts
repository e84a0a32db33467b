export {
  containerKind,
  type ContainerKindOptions,
  containerName,
  LABEL_OWNER,
  LABEL_RESOURCE,
  LABEL_SPEC_HASH,
} from "./container-kind.js";
export {
  commandArgv,
  DaemonUnreachableError,
  DockerDriver,
  type DockerDriverOptions,
  DockerError,
  defaultSocketPath,
  demuxBuffer,
  ImageNotFoundError,
  type LogLine,
  type ObservedContainer,
  PortInUseError,
} from "./driver.js";
export { type ProbeResult, probeHealth } from "./health.js";
export {
  InvalidSpecError,
  type PortMapping,
  parseCpus,
  parseMemory,
  parsePort,
} from "./quantities.js";
export {
  type ContainerSpec,
  type ContainerSpecInput,
  ContainerSpecSchema,
  type HealthCheck,
  HealthCheckSchema,
  RestartPolicySchema,
} from "./spec.js";
