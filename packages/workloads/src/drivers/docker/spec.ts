import { z } from "zod";
import { LifecycleSpecSchema } from "../../lifecycle.js";
import { parseCpus, parseMemory, parsePort, parseVolume } from "./quantities.js";

/**
 * Runs the parser the engine runs at create time, so a spec the runtime would refuse is refused
 * by the schema (and by `validate`) with the same message.
 */
function checkedBy<T>(parse: (value: T) => unknown) {
  return (value: T, ctx: z.RefinementCtx) => {
    try {
      parse(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  };
}

/** A memory limit: `512Mi`, `2Gi`, `1G`, `512m` or bytes; at least Docker's 6Mi. */
export const MemoryLimitSchema = z
  .union([z.string(), z.number()])
  .superRefine(checkedBy(parseMemory))
  .describe("512Mi, 2Gi, 1G, 512m (MiB, as Docker) or bytes; at least 6Mi");

/** A CPU limit: `500m` (millicores), `2`, `0.5`; at least 10m. */
export const CpuLimitSchema = z
  .union([z.string(), z.number()])
  .superRefine(checkedBy(parseCpus))
  .describe("500m, 2, 0.5; at least 10m");

const PortSchema = z.union([
  z
    .string()
    .superRefine(checkedBy(parsePort))
    .describe("Docker -p form: 8080, 80:8080, 8080:8080/udp, 127.0.0.1:80:8080"),
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
    .superRefine(checkedBy(parseVolume))
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
    .strict()
    .superRefine(checkedBy(parseVolume)),
]);

/** One container, as the Docker driver and the `Container` resource kind take it. */
export const ContainerSpecSchema = LifecycleSpecSchema.extend({
  image: z.string().min(1),
  command: z.array(z.string()).optional().describe("Overrides the image's command"),
  entrypoint: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).default({}),
  ports: z.array(PortSchema).default([]),
  volumes: z.array(VolumeSchema).default([]),
  labels: z.record(z.string(), z.string()).default({}),
  cpus: CpuLimitSchema.optional(),
  memory: MemoryLimitSchema.optional(),
  user: z.string().optional(),
  readOnly: z.boolean().default(false),
  capAdd: z.array(z.string()).default([]),
  capDrop: z.array(z.string()).default([]),
  network: z.string().optional().describe("bridge (default), host, none, or a network name"),
  pull: z.boolean().default(false).describe("Pull the image when it is not present locally"),
}).strict();

export type ContainerSpec = z.infer<typeof ContainerSpecSchema>;
export type ContainerSpecInput = z.input<typeof ContainerSpecSchema>;
