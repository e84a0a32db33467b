import { formatIssues } from "@org/reconcile-core";
import { z } from "zod";

/** An ECS error, as the AWS JSON protocol carries it: `{"__type": name, "message": ...}` with HTTP 400. */
export class EcsError extends Error {
  constructor(
    readonly type:
      | "ClientException"
      | "InvalidParameterException"
      | "ServerException"
      | "ClusterNotFoundException"
      | "ConflictException"
      | "UnknownOperationException",
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export const KeyValueSchema = z.object({ name: z.string(), value: z.string() }).loose();
export const TagSchema = z.object({ key: z.string(), value: z.string().optional() }).loose();
export const LaunchTypeSchema = z.enum(["FARGATE", "EC2"]);
export const NetworkConfigurationSchema = z
  .object({
    awsvpcConfiguration: z
      .object({
        subnets: z.array(z.string()).max(16),
        securityGroups: z.array(z.string()).max(5).optional(),
        assignPublicIp: z.enum(["ENABLED", "DISABLED"]).optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export const TaskOverrideSchema = z
  .object({
    containerOverrides: z
      .array(
        z
          .object({
            name: z.string(),
            command: z.array(z.string()).optional(),
            environment: z.array(KeyValueSchema).optional(),
          })
          .loose(),
      )
      .optional(),
  })
  .loose();

const ContainerDefinition = z
  .object({
    name: z.string().min(1),
    image: z.string().min(1),
    command: z.array(z.string()).optional(),
    entryPoint: z.array(z.string()).optional(),
    environment: z.array(KeyValueSchema).optional(),
    cpu: z.number().int().nonnegative().optional(),
    memory: z.number().int().positive().optional(),
    essential: z.boolean().optional(),
    portMappings: z
      .array(
        z
          .object({
            containerPort: z.number().int(),
            hostPort: z.number().int().optional(),
            protocol: z.enum(["tcp", "udp"]).optional(),
          })
          .loose(),
      )
      .optional(),
    stopTimeout: z.number().int().positive().optional(),
    workingDirectory: z.string().optional(),
    user: z.string().optional(),
  })
  .loose();

export const RegisterTaskDefinitionSchema = z
  .object({
    family: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, "family: letters, digits, _ and -"),
    containerDefinitions: z.array(ContainerDefinition).min(1),
  })
  .loose();
export const DescribeTaskDefinitionSchema = z.object({ taskDefinition: z.string().min(1) }).loose();
export const RunTaskSchema = z
  .object({
    cluster: z.string().optional(),
    taskDefinition: z.string().min(1),
    count: z.number().int().min(1).max(10).optional(),
    startedBy: z.string().max(128).optional(),
    group: z.string().optional(),
    tags: z.array(TagSchema).optional(),
    launchType: LaunchTypeSchema.optional(),
    networkConfiguration: NetworkConfigurationSchema.optional(),
    overrides: TaskOverrideSchema.optional(),
    clientToken: z
      .string()
      .regex(/^[\x21-\x7e]{1,64}$/, "clientToken: 1 to 64 ASCII characters from 33 to 126")
      .optional(),
  })
  .loose();
export const DescribeTasksSchema = z
  .object({
    cluster: z.string().optional(),
    tasks: z.array(z.string()).min(1).max(100),
    include: z.array(z.enum(["TAGS"])).optional(),
  })
  .loose();
export const StopTaskSchema = z
  .object({
    cluster: z.string().optional(),
    task: z.string().min(1),
    reason: z.string().optional(),
  })
  .loose();
export const ListTasksSchema = z
  .object({
    cluster: z.string().optional(),
    startedBy: z.string().optional(),
    family: z.string().optional(),
    launchType: LaunchTypeSchema.optional(),
    desiredStatus: z.enum(["RUNNING", "PENDING", "STOPPED"]).optional(),
    maxResults: z.number().int().min(1).max(100).optional(),
    nextToken: z.string().min(1).optional(),
  })
  .loose();

export type RegisterTaskDefinitionInput = z.infer<typeof RegisterTaskDefinitionSchema>;
export type RunTaskInput = z.infer<typeof RunTaskSchema>;
export type DescribeTasksInput = z.infer<typeof DescribeTasksSchema>;
export type StopTaskInput = z.infer<typeof StopTaskSchema>;
export type ListTasksInput = z.infer<typeof ListTasksSchema>;

/** A registered task definition, as DescribeTaskDefinition returns it. */
export const TaskDefinitionSchema = RegisterTaskDefinitionSchema.extend({
  taskDefinitionArn: z.string(),
  revision: z.number().int().positive(),
  status: z.literal("ACTIVE"),
});
export type TaskDefinition = z.infer<typeof TaskDefinitionSchema>;

/** Parses one request body; a bad body is an `InvalidParameterException` naming the fields. */
export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw new EcsError("InvalidParameterException", formatIssues(result.error));
  return result.data;
}
