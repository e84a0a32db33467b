import { z } from "zod";
import { LifecycleSpecSchema } from "../../lifecycle.js";

/** One ECS task per workload: a registered task definition, launched with these overrides. */
export const EcsSpecSchema = LifecycleSpecSchema.extend({
  taskDefinition: z
    .string()
    .min(1)
    .describe("The task definition to run: family, family:revision, or its ARN"),
  launchType: z.enum(["FARGATE", "EC2"]).default("FARGATE"),
  container: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The container that command and environment override and whose exit code is reported; default: the definition's first essential container",
    ),
  command: z.array(z.string()).optional().describe("Overrides the container's command"),
  environment: z
    .record(z.string(), z.string())
    .default({})
    .describe("Added to the container's environment"),
  network: z
    .object({
      subnets: z.array(z.string().min(1)).min(1).max(16),
      securityGroups: z.array(z.string().min(1)).max(5).default([]),
      assignPublicIp: z.boolean().default(false),
    })
    .strict()
    .optional()
    .describe("awsvpc network configuration; Fargate needs it on AWS"),
  tags: z
    .record(z.string(), z.string())
    .default({})
    .describe("Task tags, beside the labels the workload kind sets"),
  healthCheck: z
    .undefined({
      error:
        "the ECS driver cannot probe a task from outside; put the health check in the task definition's container healthCheck",
    })
    .optional(),
}).strict();

export type EcsSpec = z.infer<typeof EcsSpecSchema>;
export type EcsSpecInput = z.input<typeof EcsSpecSchema>;
