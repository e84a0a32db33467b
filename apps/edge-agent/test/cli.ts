import { fileURLToPath } from "node:url";
import { CliProcess } from "@org/reconcile-core/testing";

const appDir = fileURLToPath(new URL("..", import.meta.url));

/** `edge-agent` from source. */
export class Cli extends CliProcess {
  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    super(appDir, args, env);
  }

  static override run(args: string[], env?: NodeJS.ProcessEnv) {
    return CliProcess.run(appDir, args, env);
  }
}
