export { EdgeAgent, loadFacts } from "./agent.js";
export {
  AGENT_ENV,
  type AgentConfig,
  AgentConfigSchema,
  loadAgentConfig,
  printableConfig,
} from "./config.js";
export { formatMachineEvent } from "./format.js";
