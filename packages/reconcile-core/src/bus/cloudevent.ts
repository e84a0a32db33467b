import { randomUUID } from "node:crypto";
import { z } from "zod";
import { formatIssues } from "../errors.js";

/** The CloudEvents 1.0 envelope (JSON format), with `data` typed by the event type. */
export interface CloudEvent<T = unknown> {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype?: "application/json";
  data: T;
}

export const CloudEventSchema = z
  .object({
    specversion: z.literal("1.0"),
    id: z.string().min(1),
    source: z.string().min(1).describe("URI-reference of the producer, e.g. edge-agent/pi-7"),
    type: z.string().min(1).describe("Reverse-DNS event type"),
    subject: z.string().optional(),
    time: z.iso.datetime({ offset: true }),
    datacontenttype: z.literal("application/json").optional(),
    data: z.unknown(),
  })
  .loose();

/** A named event type and the zod schema of its `data`: creates envelopes and validates received ones. */
export interface EventType<T> {
  readonly type: string;
  readonly data: z.ZodType<T>;
  create(init: {
    source: string;
    data: T;
    subject?: string;
    id?: string;
    time?: Date;
  }): CloudEvent<T>;
  /** Validates a received envelope of this type; throws `InvalidEventError` naming the fields. */
  parse(event: unknown): CloudEvent<T>;
  is(event: CloudEvent): event is CloudEvent<T>;
}

export class InvalidEventError extends Error {
  override name = "InvalidEventError";
}

export function defineEventType<S extends z.ZodType>(type: string, data: S): EventType<z.infer<S>> {
  const envelope = CloudEventSchema.extend({ type: z.literal(type), data });
  return {
    type,
    data: data as z.ZodType<z.infer<S>>,
    create: ({ source, data: payload, subject, id, time }) => ({
      specversion: "1.0",
      id: id ?? randomUUID(),
      source,
      type,
      ...(subject === undefined ? {} : { subject }),
      time: (time ?? new Date()).toISOString(),
      datacontenttype: "application/json",
      data: payload,
    }),
    parse(event) {
      const result = envelope.safeParse(event);
      if (!result.success)
        throw new InvalidEventError(`invalid ${type} event: ${formatIssues(result.error)}`);
      return result.data as unknown as CloudEvent<z.infer<S>>;
    },
    is: (event): event is CloudEvent<z.infer<S>> => event.type === type,
  };
}

/** Validates any received envelope (not its data); throws `InvalidEventError`. */
export function parseCloudEvent(value: unknown): CloudEvent {
  const result = CloudEventSchema.safeParse(value);
  if (!result.success)
    throw new InvalidEventError(`invalid CloudEvent: ${formatIssues(result.error)}`);
  return result.data as CloudEvent;
}
