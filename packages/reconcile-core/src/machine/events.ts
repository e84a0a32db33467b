import { z } from "zod";
import { defineEventType, type EventType } from "../bus/cloudevent.js";
import { subjectToken } from "../bus/subject.js";

/** Choria's transition notification, as the data of a CloudEvent of type `io.choria.machine.v1.transition`. */
export const machineTransitionEvent = defineEventType(
  "io.choria.machine.v1.transition",
  z
    .object({
      protocol: z.literal("io.choria.machine.v1.transition"),
      identity: z.string(),
      id: z.string().describe("Machine instance id"),
      version: z.string(),
      timestamp: z.number().int().describe("Unix seconds"),
      machine: z.string(),
      transition: z.string(),
      from_state: z.string(),
      to_state: z.string(),
    })
    .loose(),
);

/** A transition requested in a state where it is not valid (or unknown): ignored, and reported. */
export const machineTransitionIgnoredEvent = defineEventType(
  "org.reconcile.machine.v1.transition_ignored",
  z.object({
    identity: z.string(),
    id: z.string(),
    machine: z.string(),
    transition: z.string(),
    state: z.string(),
    reason: z.string(),
    watcher: z.string().optional(),
  }),
);

export const WatcherStateSchema = z
  .object({
    protocol: z.string(),
    identity: z.string(),
    id: z.string(),
    version: z.string(),
    timestamp: z.number().int(),
    type: z.string(),
    machine: z.string(),
    name: z.string().describe("Watcher name"),
    previous_outcome: z.string().describe("success, fail, error, unchanged or skipped"),
    previous_transition: z.string().optional(),
    previous_run_time: z
      .number()
      .int()
      .optional()
      .describe("Nanoseconds the run took (as Choria reports)"),
  })
  .loose();

const watcherEventTypes = new Map<string, EventType<z.infer<typeof WatcherStateSchema>>>();

/** The event type of a watcher type's state, `io.choria.machine.watcher.<type>.v1.state` as in Choria. */
export function watcherStateEvent(
  watcherType: string,
): EventType<z.infer<typeof WatcherStateSchema>> {
  let eventType = watcherEventTypes.get(watcherType);
  if (!eventType) {
    eventType = defineEventType(
      `io.choria.machine.watcher.${watcherType}.v1.state`,
      WatcherStateSchema,
    );
    watcherEventTypes.set(watcherType, eventType);
  }
  return eventType;
}

/**
 * Subjects carry the identity and machine, so one node, one machine, or one watcher type can
 * be picked out with a pattern:
 *   choria.machine.<identity>.<machine>.transition
 *   choria.machine.<identity>.<machine>.watcher.<type>.<watcher>
 *   choria.machine.<identity>.<machine>.ignored
 */
export function machineSubject(identity: string, machine: string, ...rest: string[]): string {
  return [
    "choria.machine",
    subjectToken(identity),
    subjectToken(machine),
    ...rest.map(subjectToken),
  ].join(".");
}

/** The subscription pattern for `machine watch` filters; absent filters match anything. */
export function machineEventPattern(filter: {
  identity?: string;
  machine?: string;
  type?: string;
}): string {
  const base = `choria.machine.${filter.identity ? subjectToken(filter.identity) : "*"}.${filter.machine ? subjectToken(filter.machine) : "*"}`;
  return filter.type ? `${base}.watcher.${subjectToken(filter.type)}.*` : `${base}.>`;
}
