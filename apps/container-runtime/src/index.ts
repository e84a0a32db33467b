export {
  type AgentSpec,
  AgentSpecSchema,
  compileManifest,
  containerSpecOf,
  parseAgentSpec,
  parseAgentSpecText,
  replicaIds,
  resolveEnvironment,
} from "./agent-spec.js";
export { buildApi } from "./api/server.js";
export { EcsService } from "./ecs/ecs-service.js";
export { processSpecOf, type ReplicaTarget } from "./agent-spec.js";
export { detectStrategy, type Strategy, Supervisor, type SupervisorOptions } from "./supervisor.js";
