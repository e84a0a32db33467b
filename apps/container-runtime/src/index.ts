export {
  type AgentDefinition,
  AgentDefinitionSchema,
  compileManifest,
  containerSpecOf,
  parseAgentDefinition,
  parseAgentDefinitionText,
  replicaIds,
  resolveEnvironment,
} from "./agent-definition.js";
export { buildApi } from "./api/server.js";
export { EcsService } from "./ecs/ecs-service.js";
export { processSpecOf, type ReplicaTarget } from "./agent-definition.js";
export { detectStrategy, type Strategy, Supervisor, type SupervisorOptions } from "./supervisor.js";
