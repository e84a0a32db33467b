import { spawn } from "node:child_process";
import { open, readFile, rm } from "node:fs/promises";

/** True while a process with `pid` exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The kernel's start time of `pid` (Linux /proc), to tell a process from a later one that reused its pid. */
export async function processStartTicks(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

/**
 * Starts `argv` detached (its own process group, surviving its parent) under a small shell
 * wrapper that writes its pid to `<base>.pid` first and, when the command ends, its exit code
 * to `<base>.exit` (atomically). stdout and stderr go to files. So whoever started it, even a
 * previous incarnation of the agent, can later tell "still running" from "finished with code N"
 * from "interrupted" (no exit file, no process). Resolves with the wrapper's pid, which is also
 * the process group to signal; rejects when it cannot start.
 */
export async function spawnSupervised(
  argv: string[],
  options: {
    base: string;
    cwd: string;
    env: NodeJS.ProcessEnv;
    stdout: string;
    stderr: string;
    append?: boolean;
  },
): Promise<number> {
  await rm(`${options.base}.exit`, { force: true });
  const flags = options.append ? "a" : "w";
  const out = await open(options.stdout, flags);
  const err = await open(options.stderr, flags);
  try {
    const wrapper =
      'echo $$ > "$0.pid"; "$@"; code=$?; echo $code > "$0.exit.tmp"; mv "$0.exit.tmp" "$0.exit"';
    const child = spawn("/bin/sh", ["-c", wrapper, options.base, ...argv], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", out.fd, err.fd],
      detached: true,
    });
    // Listen at once: "spawn" and "error" fire on the next tick.
    const failure = await new Promise<Error | undefined>((resolve) => {
      child.once("error", resolve);
      child.once("spawn", () => resolve(undefined));
    });
    if (failure)
      throw new Error(
        `cannot start ${argv[0]}: ${(failure as NodeJS.ErrnoException).code ?? failure.message}`,
      );
    child.unref();
    return child.pid!;
  } finally {
    await Promise.all([out.close(), err.close()]);
  }
}

/** What `spawnSupervised` left at `base`: the pid, and the exit code once the command ended. */
export async function supervisedState(base: string): Promise<{ pid?: number; exitCode?: number }> {
  const read = (path: string) =>
    readFile(path, "utf8").then(
      (t) => t.trim(),
      () => "",
    );
  const [pid, exit] = await Promise.all([read(`${base}.pid`), read(`${base}.exit`)]);
  return { ...(pid ? { pid: Number(pid) } : {}), ...(exit ? { exitCode: Number(exit) } : {}) };
}

/** True while any process of the group `pgid` exists (signal 0 to the group). */
export function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills a process group whole (SIGTERM, then SIGKILL after `graceMs` to whatever is left); a
 * group that is gone is fine. It waits on the group, not its leader, so a child that outlives
 * the wrapper (`kill -9` of the recorded pid) is stopped too.
 */
export async function stopProcessGroup(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    return;
  }
  const end = Date.now() + graceMs;
  while (processGroupAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Gone.
  }
}
