import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { formatIssues } from "@org/reconcile-core";
import { LABEL_OWNER, LABEL_RESOURCE } from "@org/workloads";
import Fastify, { type FastifyInstance } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { z } from "zod";
import { AgentDefinitionSchema, BUILD_ONLY_FIELDS, replicaIds } from "../agent-definition.js";
import { EcsError, type EcsService } from "../ecs/ecs-service.js";
import type { Supervisor } from "../supervisor.js";

const ErrorBody = z.object({ error: z.string() });
const ReplicaBody = z.object({
  id: z.string(),
  state: z.string().optional(),
  since: z.string().optional(),
  health: z
    .string()
    .optional()
    .describe(
      "The health check's verdict when the spec has one: healthy, starting: <why>, or failing <n>/<retries>: <why>",
    ),
  error: z.string().optional(),
  attempts: z.number().optional(),
  retryAt: z
    .string()
    .optional()
    .describe("Next attempt of a Failed replica; absent when the failure is terminal"),
  details: z.record(z.string(), z.unknown()).optional(),
});
const AgentBody = z.object({
  name: z.string(),
  version: z.string(),
  image: z.string(),
  replicas: z.number(),
  ready: z.number(),
  replicaStatus: z.array(ReplicaBody),
});
const Name = z.object({ name: z.string() });

function replicaView(r: {
  id: string;
  status: import("@org/reconcile-core").ResourceStatus | undefined;
}) {
  const s = r.status;
  const details = s?.state === "Ready" || s?.state === "Reconciling" ? s.details : undefined;
  const health = details?.health;
  return {
    id: r.id,
    ...(s ? { state: s.state, since: s.since } : {}),
    ...(typeof health === "string" ? { health } : {}),
    ...(s?.state === "Failed"
      ? { error: s.error, attempts: s.attempts, ...(s.retryAt ? { retryAt: s.retryAt } : {}) }
      : {}),
    ...(details ? { details } : {}),
  };
}

/**
 * The supervisor's HTTP API (OpenAPI at /openapi.json, UI at /docs): apply, list, read and
 * delete agents, read replica logs; and, on `POST /` with an `X-Amz-Target` header, the
 * ECS-compatible endpoint. Bodies are validated with the zod schemas the CLI uses; a bad body
 * is a 400 naming the fields.
 */
export async function buildApi(supervisor: Supervisor, ecs?: EcsService): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, _req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const message = err.validation
        .map(
          (v) =>
            `${v.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(body)"}: ${v.message}`,
        )
        .join("; ");
      return reply.status(400).send({ error: `invalid request: ${message}` });
    }
    if (err instanceof z.ZodError)
      return reply.status(400).send({ error: `invalid request: ${formatIssues(err)}` });
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply
      .status(status)
      .send({ error: status >= 500 ? `internal error: ${err.message}` : err.message });
  });
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: "container-runtime supervisor",
        version: "0.1.0",
        description: "Declarative containers: apply agent.yaml specs, read status and logs.",
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });

  app.get("/healthz", { schema: { hide: true } }, async () => ({
    ok: true,
    strategy: supervisor.strategy,
    owner: supervisor.owner,
    stateDir: supervisor.stateDir,
  }));
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  app.get(
    "/v1/agents",
    { schema: { summary: "List applied agents", response: { 200: z.array(AgentBody) } } },
    async () =>
      supervisor
        .summaries()
        .map((s) => ({ ...s, replicaStatus: s.replicaStatus.map(replicaView) })),
  );

  app.post(
    "/v1/agents",
    {
      schema: {
        summary: "Apply an agent spec (create or update)",
        body: AgentDefinitionSchema,
        response: {
          202: z.object({
            name: z.string(),
            generation: z.number(),
            replicas: z.array(z.string()),
            ignored: z.array(z.string()),
          }),
          400: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const agent = req.body;
      try {
        const { generation } = await supervisor.apply(agent);
        const ignored = BUILD_ONLY_FIELDS.filter((f) => agent.spec[f] !== undefined).map(
          (f) => `spec.${f}`,
        );
        return reply
          .status(202)
          .send({ name: agent.metadata.name, generation, replicas: replicaIds(agent), ignored });
      } catch (err) {
        return reply.status(400).send({ error: (err as Error).message });
      }
    },
  );

  app.get(
    "/v1/agents/:name",
    {
      schema: {
        summary: "One agent's replicas and their status",
        params: Name,
        response: { 200: AgentBody, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const summary = supervisor.summary(req.params.name);
      if (!summary)
        return reply.status(404).send({ error: `agent ${req.params.name} is not applied` });
      return { ...summary, replicaStatus: summary.replicaStatus.map(replicaView) };
    },
  );

  app.delete(
    "/v1/agents/:name",
    {
      schema: {
        summary: "Delete an agent and its replicas",
        params: Name,
        response: { 204: z.null(), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!(await supervisor.delete(req.params.name)))
        return reply.status(404).send({ error: `agent ${req.params.name} is not applied` });
      return reply.status(204).send();
    },
  );

  app.get(
    "/v1/agents/:name/logs",
    {
      schema: {
        summary: "A replica's logs, stdout and stderr apart",
        params: Name,
        querystring: z.object({
          replica: z.coerce.number().int().min(0).default(0),
          tail: z.coerce.number().int().positive().max(10_000).default(200),
        }),
        response: {
          200: z.object({ replica: z.string(), stdout: z.string(), stderr: z.string() }),
          404: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const agent = supervisor.get(req.params.name);
      const id = agent ? replicaIds(agent)[req.query.replica] : undefined;
      if (!agent || !id)
        return reply
          .status(404)
          .send({ error: `no replica ${req.query.replica} of agent ${req.params.name}` });
      const [workload] = await supervisor.workloads.list({
        [LABEL_OWNER]: supervisor.owner,
        [LABEL_RESOURCE]: id,
      });
      if (!workload)
        return reply.status(404).send({ error: `replica ${id} has no workload right now` });
      return {
        replica: id,
        ...(await supervisor.workloads.logs(workload.id, { tail: req.query.tail })),
      };
    },
  );

  app.get(
    "/v1/status",
    {
      schema: { summary: "The controller's full status (generations, conditions, every replica)" },
    },
    async () => supervisor.controller.status(),
  );

  // The ECS-compatible endpoint: the AWS JSON 1.1 protocol on POST /.
  app.addContentTypeParser(
    "application/x-amz-json-1.1",
    { parseAs: "string" },
    (_req, body, done) => {
      try {
        done(null, body === "" ? {} : JSON.parse(body as string));
      } catch {
        done(Object.assign(new Error("request body is not JSON"), { statusCode: 400 }), undefined);
      }
    },
  );
  app.post("/", { schema: { hide: true } }, async (req, reply) => {
    const target = req.headers["x-amz-target"];
    reply.header("content-type", "application/x-amz-json-1.1");
    if (!ecs)
      return reply.status(400).send({
        __type: "UnknownOperationException",
        message: "the ECS endpoint needs the docker strategy",
      });
    if (typeof target !== "string" || !target.startsWith("AmazonEC2ContainerServiceV20141113.")) {
      return reply.status(400).send({
        __type: "UnknownOperationException",
        message: "missing or foreign X-Amz-Target header",
      });
    }
    try {
      return reply.send(await ecs.call(target.split(".")[1]!, req.body));
    } catch (err) {
      if (err instanceof EcsError)
        return reply.status(err.status).send({ __type: err.type, message: err.message });
      return reply.status(500).send({ __type: "ServerException", message: (err as Error).message });
    }
  });
  return app;
}
