import { z } from "zod";
import { MachineSpecSchema, WatcherSpecSchema } from "./spec.js";
import type { WatcherRegistry } from "./watchers/registry.js";

/**
 * The machine.yaml schema for editors: the runtime's own schemas, with each watcher's
 * `properties` narrowed by its `type` to that type's property schema.
 */
export function machineEditorSchema(registry: WatcherRegistry): z.ZodType {
  const watchers = registry.names().map((name) =>
    WatcherSpecSchema.extend({
      type: z.literal(name),
      properties: registry.require(name).properties.optional(),
    }),
  );
  const [first, ...rest] = watchers;
  if (!first) return MachineSpecSchema;
  return MachineSpecSchema.extend({
    watchers: z.array(z.discriminatedUnion("type", [first, ...rest])).optional(),
  });
}
