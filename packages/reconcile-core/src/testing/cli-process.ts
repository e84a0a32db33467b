import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const tsx = fileURLToPath(new URL("../../../../node_modules/.bin/tsx", import.meta.url));

/** A running command-line app (from source, through tsx) with its output collected line by line. */
export class CliProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;

  /** Runs `<appDir>/src/cli.ts args...` in `appDir`. */
  constructor(appDir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.process = spawn(tsx, ["--conditions=source", "src/cli.ts", ...args], {
      cwd: appDir,
      env: { ...process.env, LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: SIGKILL must reach the app itself, not only tsx in front of it.
      detached: true,
    });
    const collect = (into: string[]) => {
      let partial = "";
      return (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        into.push(...lines);
      };
    };
    this.process.stdout?.on("data", collect(this.stdout));
    this.process.stderr?.on("data", collect(this.stderr));
    this.exited = new Promise((resolve) => this.process.once("exit", (code) => resolve(code)));
  }

  /** Runs to completion. */
  static async run(
    appDir: string,
    args: string[],
    env?: NodeJS.ProcessEnv,
  ): Promise<{ code: number | null; stdout: string[]; stderr: string[] }> {
    const cli = new CliProcess(appDir, args, env);
    const code = await cli.exited;
    return { code, stdout: cli.stdout, stderr: cli.stderr };
  }

  /** Waits for a stdout (or, with `stream`, stderr) line matching `pattern`. */
  async line(
    pattern: RegExp,
    ms = 20_000,
    stream: "stdout" | "stderr" = "stdout",
  ): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this[stream].find((l) => pattern.test(l));
      if (found) return found;
      if (Date.now() > end)
        throw new Error(
          `no ${stream} line matching ${pattern} within ${ms} ms; stdout:\n${this.stdout.join("\n")}\nstderr:\n${this.stderr.join("\n")}`,
        );
      if (this.process.exitCode !== null)
        throw new Error(`exited ${this.process.exitCode}; stderr:\n${this.stderr.join("\n")}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /**
   * Sends `signal` and waits for the exit code. SIGINT and SIGTERM go to tsx, which relays them
   * to the app (so it stops cleanly); SIGKILL goes to the whole process group, as `kill -9` of
   * the app would, and waits until the app itself is gone.
   */
  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
    if (signal === "SIGKILL") {
      const group = this.process.pid!;
      signalGroup(group, "SIGKILL");
      await this.exited;
      for (let i = 0; i < 250 && signalGroup(group, 0); i++)
        await new Promise((r) => setTimeout(r, 20));
      return null;
    }
    if (this.process.exitCode === null && this.process.signalCode === null)
      this.process.kill(signal);
    return this.exited;
  }
}

/** Signals a process group; false when no process of it is left. */
function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-group, signal);
    return true;
  } catch {
    return false;
  }
}
