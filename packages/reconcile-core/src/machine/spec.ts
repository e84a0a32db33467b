import { z } from "zod";
import { DurationSchema } from "./duration.js";

/**
 * State, transition, machine and watcher names. Choria's loader takes any string (its docs name a
 * state `2hours_off`); names here end up as NATS subject tokens, so they are letters, digits,
 * `_` and `-`.
 */
export const NameSchema = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]*$/, "names use letters, digits, _ and -");

/**
 * Another machine on the node, named as Choria names it (`machine_name`). `machine` is the
 * deprecated spelling earlier versions of this project taught; the loader accepts it with a
 * warning and rewrites it to `machine_name`.
 */
const foreignMachine = {
  machine_name: NameSchema.optional().describe("Another machine on the same node"),
  machine: NameSchema.optional().describe("Deprecated: use machine_name"),
};

/** Choria's MachineSubscription: fire this transition when `machine_name` fires `event`. */
export const MachineSubscriptionSchema = z
  .object({
    ...foreignMachine,
    event: NameSchema.optional().describe("The transition of the other machine"),
  })
  .strict();

/** Choria's ForeignMachineState: a watcher runs only while `machine_name` is in `state`. */
export const ForeignStateSchema = z
  .object({
    ...foreignMachine,
    state: NameSchema.optional().describe("The state it must be in for this watcher to run"),
  })
  .strict();

export const TransitionSpecSchema = z
  .object({
    name: NameSchema.describe("The event that fires this transition"),
    from: z.array(NameSchema).min(1).describe("States in which the transition is valid"),
    destination: NameSchema.describe("State the machine moves to"),
    description: z.string().optional(),
    subscribe: z
      .array(MachineSubscriptionSchema)
      .optional()
      .describe("Fire this transition when another machine on this node fires `event`"),
  })
  .strict();

export const WatcherSpecSchema = z
  .object({
    name: NameSchema,
    type: z
      .string()
      .min(1)
      .describe("Watcher type: file, exec, nagios, timer, schedule, kv, expression, archive"),
    state_match: z
      .array(NameSchema)
      .optional()
      .describe("States in which the watcher runs; empty or absent = all"),
    foreign_state_required: z
      .array(ForeignStateSchema)
      .optional()
      .describe("Other local machines' states, all required for this watcher to run"),
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
    transitions: z.array(TransitionSpecSchema).min(1, "no transitions defined"),
    watchers: z.array(WatcherSpecSchema).min(1, "no watchers defined"),
  })
  .strict();

export type MachineSubscription = z.infer<typeof MachineSubscriptionSchema>;
export type ForeignMachineState = z.infer<typeof ForeignStateSchema>;
export type TransitionSpec = z.infer<typeof TransitionSpecSchema>;
export type WatcherSpec = z.infer<typeof WatcherSpecSchema>;
export type MachineSpec = z.infer<typeof MachineSpecSchema>;
