import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { parse as parseShell } from "shell-quote";
import { childEnvironment } from "../../util/process.js";
import type { WatcherContext } from "./watcher.js";

/** Output kept per stream; the rest is counted, not stored. */
export const OUTPUT_CAP_BYTES = 64 * 1024;

export interface CommandResult {
  argv: string[];
  /** Exit code, or undefined when the process could not start or was killed. */
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
  /** Set when the command could not run at all (not found, not executable, bad syntax). */
  error?: string;
  stdout: string;
  stderr: string;
  runTimeMs: number;
}

/**
 * Splits a command line the way a shell would (quotes, escapes), without a shell: pipes,
 * redirections, globs and `&&` are refused, so a property can never smuggle in shell syntax.
 */
export function splitCommand(command: string): string[] {
  const parts = parseShell(command);
  const argv: string[] = [];
  for (const part of parts) {
    if (typeof part === "string") argv.push(part);
    else if ("op" in part && part.op === "glob")
      throw new Error(`no shell runs the command, so the glob '${part.pattern}' would not expand`);
    else if ("op" in part)
      throw new Error(`no shell runs the command, so '${part.op}' is not allowed`);
    else throw new Error("comments are not allowed in a command");
  }
  if (argv.length === 0) throw new Error("the command is empty");
  return argv;
}

/**
 * What `runCommand` would refuse in a command line before running it (shell syntax, an empty
 * command), checked at load time. Templates are stood in for by one word: what they expand to
 * is known only at run time.
 */
export function commandProblem(command: string): string | undefined {
  try {
    splitCommand(command.replace(/\{\{.*?\}\}/g, "TEMPLATE"));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Runs a watcher's command with Choria's conventions: working directory = the machine's
 * directory, which is appended to PATH; MACHINE_NAME, MACHINE_WATCHER_NAME, and WATCHER_DATA
 * / WATCHER_FACTS (paths to JSON copies of the machine's data and facts); plus the
 * watcher's `environment` entries. Of the agent's own environment only the basics are passed
 * (`childEnvironment`), never its credentials. The whole process group is killed on timeout.
 */
export async function runCommand(
  ctx: WatcherContext,
  command: string,
  options: { timeoutMs: number; environment?: string[]; signal?: AbortSignal },
): Promise<CommandResult> {
  const started = performance.now();
  let argv: string[];
  try {
    argv = splitCommand(ctx.render(command));
  } catch (err) {
    return {
      argv: [],
      timedOut: false,
      error: (err as Error).message,
      stdout: "",
      stderr: "",
      runTimeMs: 0,
    };
  }
  const scratch = await mkdtemp(join(tmpdir(), "watcher-"));
  try {
    const dataFile = join(scratch, "data.json");
    const factsFile = join(scratch, "facts.json");
    await writeFile(dataFile, JSON.stringify(ctx.data.all()));
    await writeFile(factsFile, JSON.stringify(ctx.facts()));
    const base = childEnvironment();
    const env: NodeJS.ProcessEnv = {
      ...base,
      PATH: [base.PATH, ctx.machine.directory].join(delimiter),
      MACHINE_NAME: ctx.machine.name,
      MACHINE_WATCHER_NAME: ctx.spec.name,
      WATCHER_DATA: dataFile,
      WATCHER_FACTS: factsFile,
    };
    for (const entry of options.environment ?? []) {
      const rendered = ctx.render(entry);
      const eq = rendered.indexOf("=");
      if (eq > 0) env[rendered.slice(0, eq)] = rendered.slice(eq + 1);
    }
    return await spawnCapped(
      argv,
      ctx.machine.directory,
      env,
      options.timeoutMs,
      options.signal,
      started,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function spawnCapped(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  started: number,
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const out = { stdout: "", stderr: "" };
    const take = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      if (out[stream].length < OUTPUT_CAP_BYTES)
        out[stream] += chunk.toString("utf8").slice(0, OUTPUT_CAP_BYTES - out[stream].length);
    };
    child.stdout.on("data", take("stdout"));
    child.stderr.on("data", take("stderr"));
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const onAbort = () => killGroup();
    signal?.addEventListener("abort", onAbort, { once: true });
    let spawnError: string | undefined;
    child.on("error", (err) => {
      spawnError =
        (err as NodeJS.ErrnoException).code === "ENOENT"
          ? `command not found: ${argv[0]}`
          : err.message;
    });
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve({
        argv,
        ...(code === null ? {} : { exitCode: code }),
        ...(sig ? { signal: sig } : {}),
        timedOut,
        ...(spawnError
          ? { error: spawnError }
          : timedOut
            ? { error: `timed out after ${timeoutMs} ms` }
            : {}),
        stdout: out.stdout,
        stderr: out.stderr,
        runTimeMs: performance.now() - started,
      });
    });
  });
}
