import { z } from "zod";

const timestamp = z.iso.datetime().describe("RFC 3339 time");
const common = {
  kind: z.string(),
  since: timestamp.describe("When the resource entered this state"),
};

export const ResourceStatusSchema = z.discriminatedUnion("state", [
  z.object({ state: z.literal("Pending"), ...common, generation: z.number().int() }).strict(),
  z
    .object({
      state: z.literal("Reconciling"),
      ...common,
      generation: z.number().int(),
      details: z
        .record(z.string(), z.unknown())
        .optional()
        .describe("Progress of work that takes a while, e.g. a script still running"),
    })
    .strict(),
  z
    .object({
      state: z.literal("Ready"),
      ...common,
      generation: z.number().int(),
      details: z.record(z.string(), z.unknown()).optional(),
    })
    .strict(),
  z
    .object({
      state: z.literal("Failed"),
      ...common,
      generation: z.number().int(),
      error: z.string().describe("What failed, for a human"),
      attempts: z.number().int().positive().describe("Consecutive failures"),
      retryAt: timestamp.optional().describe("Next attempt; absent when the error is terminal"),
    })
    .strict(),
  z
    .object({
      state: z.literal("Unknown"),
      ...common,
      reason: z.string().describe("Why the agent cannot handle it, e.g. an unknown kind"),
    })
    .strict(),
]);

export const ConditionSchema = z
  .object({
    type: z.enum(["Ready", "Reconciling", "Degraded", "RolledBack", "ManifestRejected"]),
    status: z.enum(["True", "False"]),
    reason: z.string(),
    message: z.string().optional(),
    lastTransitionTime: timestamp,
  })
  .strict();

/** How far a manifest got: what a controller reports (an edge agent writes it to `actual-state.<id>`). */
export const ManifestStatusSchema = z
  .object({
    manifestGeneration: z.number().int().describe("Generation of the newest manifest received"),
    observedGeneration: z
      .number()
      .int()
      .describe("Newest generation every resource has been reconciled at least once for"),
    resources: z.record(z.string(), ResourceStatusSchema),
    conditions: z.array(ConditionSchema),
  })
  .strict();

export type ResourceStatus = z.infer<typeof ResourceStatusSchema>;
export type ResourceState = ResourceStatus["state"];
export type Condition = z.infer<typeof ConditionSchema>;
export type ConditionType = Condition["type"];
export type ManifestStatus = z.infer<typeof ManifestStatusSchema>;
