import { CloudEventSchema } from "../bus/cloudevent.js";
import { ManifestSchema } from "../resource/manifest.js";
import { AgentStatusSchema } from "../resource/status.js";
import type { JsonSchemaSet } from "./json-schema.js";

/** The wire formats the core owns. */
export const coreJsonSchemas: JsonSchemaSet = {
  "manifest.schema.json": ManifestSchema,
  "agent-status.schema.json": AgentStatusSchema,
  "cloudevent.schema.json": CloudEventSchema,
};
