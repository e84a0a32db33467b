import { z } from "zod";
import { DurationSchema } from "./duration.js";

/** State, transition and watcher names: Choria's GenericName. */
export const NameSchema = z
  .string()
  .regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/, "names start with a letter and use letters, digits, _ and -");

export const TransitionSpecSchema = z
  .object({
    name: NameSchema.describe("The event that fires this transition"),
    from: z.array(NameSchema).min(1).describe("States in which the transition is valid"),
    destination: NameSchema.describe("State the machine moves to"),
    description: z.string().optional(),
    subscribe: z
      .array(z.object({ machine: NameSchema, event: NameSchema }).strict())
      .optional()
      .describe("Fire this transition when another machine on this node fires `event`"),
  })
  .strict();

export const ForeignStateSchema = z
  .object({
    machine: NameSchema.describe("Another machine on the same node"),
    state: NameSchema.describe("The state it must be in for this watcher to run"),
  })
  .strict();

export const WatcherSpecSchema = z
  .object({
    name: NameSchema,
    type: z
      .string()
      .min(1)
      .describe("Watcher type: file, exec, nagios, timer, schedule, kv, expression"),
    state_match: z
      .array(NameSchema)
      .optional()
      .describe("States in which the watcher runs; empty or absent = all"),
    foreign_state_required: z
      .array(ForeignStateSchema)
      .optional()
      .describe("Other local machines' states required for this watcher to run"),
    fail_transition: NameSchema.optional(),
    success_transition: NameSchema.optional(),
    interval: DurationSchema.optional().describe(
      "How often the watcher runs while its states match",
    ),
    announce_interval: DurationSchema.optional().describe(
      "Re-announce the watcher state this often (at least 1m)",
    ),
    properties: z.record(z.string(), z.unknown()).optional().describe("Type-specific properties"),
  })
  .strict();

export const MachineSpecSchema = z
  .object({
    $schema: z.string().optional(),
    name: NameSchema.describe("Unique name of the machine on a node"),
    version: z
      .string()
      .regex(
        /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/,
        "version must be SemVer, e.g. 1.0.0",
      )
      .describe("SemVer version of the machine"),
    initial_state: NameSchema,
    splay_start: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Sleep a random 0..N seconds before starting"),
    transitions: z.array(TransitionSpecSchema).min(1),
    watchers: z.array(WatcherSpecSchema).default([]),
  })
  .strict();

export type TransitionSpec = z.infer<typeof TransitionSpecSchema>;
export type WatcherSpec = z.infer<typeof WatcherSpecSchema>;
export type MachineSpec = z.infer<typeof MachineSpecSchema>;
