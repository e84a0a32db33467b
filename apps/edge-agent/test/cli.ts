import { fileURLToPath } from "node:url";
import { CliProcess } from "@org/reconcile-core/testing";

const appDir = fileURLToPath(new URL("..", import.meta.url));

/** `edge-agent` from source. */
export const Cli = {
  start: (args: string[], env: NodeJS.ProcessEnv = {}) => new CliProcess(appDir, args, env),
  run: (args: string[], env?: NodeJS.ProcessEnv) => CliProcess.run(appDir, args, env),
};
