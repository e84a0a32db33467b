import { DurationSchema } from "@org/reconcile-core";
import { z } from "zod";

const PortSchema = z.union([
  z.string().describe("Docker -p form: 8080, 80:8080, 8080:8080/udp, 127.0.0.1:80:8080"),
  z.number().int().min(1).max(65535),
  z
    .object({
      container: z.number().int().min(1).max(65535),
      host: z.number().int().min(1).max(65535).optional(),
      protocol: z.enum(["tcp", "udp"]).default("tcp"),
      hostIp: z.string().optional(),
    })
    .strict(),
]);

const VolumeSchema = z.union([
  z
    .string()
    .describe(
      "SOURCE:TARGET[:ro]; a SOURCE starting with / or . is a bind mount, else a named volume",
    ),
  z
    .object({
      type: z.enum(["bind", "volume", "tmpfs"]).default("volume"),
      source: z.string().optional().describe("Host path (bind) or volume name; none for tmpfs"),
      target: z.string().startsWith("/", "the target is an absolute path in the container"),
      readOnly: z.boolean().default(false),
    })
    .strict(),
]);

export const HealthCheckSchema = z
  .object({
    type: z.enum(["command", "http", "tcp", "file"]),
    command: z
      .union([z.string(), z.array(z.string()).min(1)])
      .optional()
      .describe("command: run in the container; exit 0 = healthy"),
    port: z.number().int().min(1).max(65535).optional().describe("http/tcp: the container port"),
    path: z
      .string()
      .optional()
      .describe("http: the request path; file: a path in the container that must exist"),
    interval: DurationSchema.default("10s"),
    timeout: DurationSchema.default("3s"),
    retries: z
      .number()
      .int()
      .positive()
      .default(3)
      .describe("Consecutive failures before the replica is replaced"),
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

export const RestartPolicySchema = z.enum(["no", "always", "on-failure", "unless-stopped"]);

/** One container, as the driver and the `Container` resource kind take it. */
export const ContainerSpecSchema = z
  .object({
    image: z.string().min(1),
    command: z.array(z.string()).optional().describe("Overrides the image's command"),
    entrypoint: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).default({}),
    ports: z.array(PortSchema).default([]),
    volumes: z.array(VolumeSchema).default([]),
    labels: z.record(z.string(), z.string()).default({}),
    cpus: z.union([z.string(), z.number()]).optional().describe("500m, 2, 0.5"),
    memory: z.union([z.string(), z.number()]).optional().describe("512Mi, 2Gi, bytes"),
    restartPolicy: RestartPolicySchema.default("always"),
    healthCheck: HealthCheckSchema.optional(),
    user: z.string().optional(),
    readOnly: z.boolean().default(false),
    capAdd: z.array(z.string()).default([]),
    capDrop: z.array(z.string()).default([]),
    network: z.string().optional().describe("bridge (default), host, none, or a network name"),
    stopGracePeriod: DurationSchema.default("10s"),
    pull: z.boolean().default(false).describe("Pull the image when it is not present locally"),
  })
  .strict();

export type ContainerSpec = z.infer<typeof ContainerSpecSchema>;
export type ContainerSpecInput = z.input<typeof ContainerSpecSchema>;
export type HealthCheck = z.infer<typeof HealthCheckSchema>;
