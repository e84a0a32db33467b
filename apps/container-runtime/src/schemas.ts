import { fileURLToPath } from "node:url";
import type { JsonSchemaSet } from "@org/reconcile-core/internal";
import { AgentDefinitionSchema } from "./agent-definition.js";

export const schemasDir = fileURLToPath(new URL("../../../schemas/", import.meta.url));

/** The wire formats this app owns. */
export const agentJsonSchemas: JsonSchemaSet = { "agent.schema.json": AgentDefinitionSchema };
