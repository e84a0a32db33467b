import { waitForSignal } from "@org/cli";
import { createLogger } from "@org/reconcile-core";
import { buildApi } from "../api/server.js";
import type { RuntimeConfig } from "../config.js";
import { EcsService } from "../ecs/ecs-service.js";
import { detectStrategy, type Strategy, Supervisor } from "../supervisor.js";
import { dockerEngine, ownerOf } from "./managed.js";

/** `serve`: the supervisor, its HTTP API and (docker strategy) the ECS endpoint, until a stop signal. */
export async function serve(config: RuntimeConfig): Promise<void> {
  const log = createLogger("container-runtime", { level: config.logLevel });
  const driver = dockerEngine(config);
  const strategy: Strategy =
    config.strategy === "auto" ? await detectStrategy(driver) : config.strategy;
  const owner = await ownerOf(config);
  const supervisor = new Supervisor({
    stateDir: config.stateDir,
    strategy,
    owner,
    driver,
    log,
    ...(config.secretsDir ? { secretsDir: config.secretsDir } : {}),
  });
  await supervisor.start();
  const ecs =
    strategy === "docker"
      ? // `<owner>-ecs`: the legacy owner gives the endpoint's old `container-runtime-ecs`.
        new EcsService({ driver, log, stateDir: config.stateDir, owner: `${owner}-ecs` })
      : undefined;
  await ecs?.start();
  const app = await buildApi(supervisor, ecs);
  const address = await app.listen({ port: config.api.port, host: config.api.host });
  log.info({ address, strategy, owner, stateDir: config.stateDir }, "supervisor listening");
  const signal = await waitForSignal();
  log.info({ signal }, "stopping");
  await app.close();
  await ecs?.stop();
  await supervisor.stop();
}
