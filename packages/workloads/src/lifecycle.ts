import { DurationSchema } from "@org/reconcile-core";
import { z } from "zod";

/**
 * A health check, probed by the workload kind through its driver. Failures within
 * `startPeriod` of a start do not count; `retries` failures in a row replace the workload.
 */
export const HealthCheckSchema = z
  .object({
    type: z.enum(["command", "http", "tcp", "file"]),
    command: z
      .union([z.string(), z.array(z.string()).min(1)])
      .optional()
      .describe(
        "command: run beside the workload (in the container, on the host); exit 0 = healthy",
      ),
    port: z.number().int().min(1).max(65535).optional().describe("http/tcp: the workload's port"),
    path: z.string().optional().describe("http: the request path; file: a path that must exist"),
    interval: DurationSchema.default("10s"),
    timeout: DurationSchema.default("3s"),
    retries: z
      .number()
      .int()
      .positive()
      .default(3)
      .describe("Consecutive failures before the workload is replaced"),
    startPeriod: DurationSchema.default("0s").describe(
      "Failures in this time after start do not count",
    ),
  })
  .strict()
  .superRefine((h, ctx) => {
    const need = { command: "command", http: "port", tcp: "port", file: "path" } as const;
    const field = need[h.type];
    if (h[field] === undefined)
      ctx.addIssue({
        code: "custom",
        path: [field],
        message: `a ${h.type} health check needs '${field}'`,
      });
  });

/**
 * When an exited workload runs again. `no` and `on-failure` make run-to-completion workloads;
 * `unless-stopped` behaves as `always` (the kind never stops a workload it wants running).
 */
export const RestartPolicySchema = z.enum(["no", "always", "on-failure", "unless-stopped"]);

/** The fields every driver's spec shares: the workload kind acts on these and only these. */
export const LifecycleSpecSchema = z.object({
  restartPolicy: RestartPolicySchema.default("always"),
  healthCheck: HealthCheckSchema.optional(),
  stopGracePeriod: DurationSchema.default("10s"),
});

export type HealthCheck = z.infer<typeof HealthCheckSchema>;
export type RestartPolicy = z.infer<typeof RestartPolicySchema>;
export type LifecycleSpec = z.infer<typeof LifecycleSpecSchema>;
