/** The Docker engine client itself (loads dockerode): for callers that need more than the workload driver (stats, exec, follow logs). */
export {
  DockerEngine,
  type DockerEngineOptions,
  type LogLine,
  type ObservedContainer,
} from "./engine.js";
export { probeHealth } from "./health.js";
export * from "../../index.js";
