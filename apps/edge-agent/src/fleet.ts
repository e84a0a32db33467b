import { z } from "zod";

/** The fleet's KV layout (Harmony's): one watch on `actual-state.>` sees every agent. */
export const desiredKey = (agent: string) => `desired-state.${agent}`;
export const actualKey = (agent: string) => `actual-state.${agent}`;
export const heartbeatKey = (agent: string) => `heartbeat.${agent}`;

export const HeartbeatSchema = z
  .object({
    agent: z.string(),
    version: z.string(),
    startedAt: z.iso.datetime(),
    at: z.iso.datetime(),
    uptimeSeconds: z.number(),
    lastReconcileAt: z.iso.datetime().optional(),
    manifestGeneration: z.number().int(),
    observedGeneration: z.number().int(),
    resources: z.object({
      total: z.number().int(),
      ready: z.number().int(),
      failed: z.number().int(),
    }),
    system: z.object({
      hostname: z.string(),
      platform: z.string(),
      arch: z.string(),
      loadavg: z.array(z.number()),
      memTotalBytes: z.number(),
      memFreeBytes: z.number(),
    }),
  })
  .strict();

export type Heartbeat = z.infer<typeof HeartbeatSchema>;
