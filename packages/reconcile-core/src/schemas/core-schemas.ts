import { CloudEventSchema } from "../bus/cloudevent.js";
import { machineEditorSchema } from "../machine/schema.js";
import { builtinWatchers } from "../machine/watchers/builtin.js";
import { ManifestSchema } from "../resource/manifest.js";
import { ManifestStatusSchema } from "../resource/status.js";
import type { JsonSchemaSet } from "./json-schema.js";

/** The wire formats the core owns. */
export const coreJsonSchemas: JsonSchemaSet = {
  "manifest.schema.json": ManifestSchema,
  "manifest-status.schema.json": ManifestStatusSchema,
  "cloudevent.schema.json": CloudEventSchema,
  "machine.schema.json": machineEditorSchema(builtinWatchers()),
};
