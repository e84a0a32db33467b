import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CliProcess } from "@org/reconcile-core/testing";
import { tempDir, until } from "@org/reconcile-core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Cli } from "../../test/cli.js";

const agents: CliProcess[] = [];
const scriptGroups: Array<{ pid: number; state: string }> = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop("SIGKILL");
  for (const { pid, state } of scriptGroups.splice(0)) {
    // Only the script's own wrapper: a pid reused since must not be signalled.
    const command = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (!command.includes(state)) continue;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Ended already.
    }
  }
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("edge agent running a long script", () => {
  it("stops at once on SIGTERM while a script runs, and the next agent records the script's end without running it again", async () => {
    const dir = await tempDir("script-agent");
    const root = join(dir, "root");
    await mkdir(root);
    const gate = join(dir, "gate");
    const runs = join(dir, "runs");
    const state = join(dir, "state");
    await writeFile(
      join(dir, "manifest.json"),
      JSON.stringify({
        generation: 1,
        resources: [
          {
            kind: "Script",
            id: "migrate",
            spec: {
              content: `echo run >> ${runs}; until [ -e ${gate} ]; do sleep 0.05; done; echo done`,
              timeout: "60s",
            },
          },
        ],
      }),
    );
    await writeFile(
      join(dir, "agent.yaml"),
      stringify({
        id: "script-agent",
        source: { type: "file", path: join(dir, "manifest.json") },
        allowedRoots: [root],
        scripts: { allowed: true },
        stateDir: state,
        machinesDir: join(dir, "machines"),
        docker: { enabled: false },
        systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
        resync: "1s",
        logLevel: "warn",
      }),
    );
    const record = () =>
      readFile(join(state, "scripts", "migrate", "record.json"), "utf8").then(
        (t) => JSON.parse(t) as { status: string; exitCode?: number },
        () => undefined,
      );
    const start = () => {
      const agent = Cli.start(["run", "--config", join(dir, "agent.yaml")]);
      agents.push(agent);
      return agent;
    };

    const first = start();
    // The supervising wrapper writes its pid (the script's process group) first thing.
    const pid = Number(
      await until(
        async () =>
          (await record())?.status === "running"
            ? await readFile(join(state, "scripts", "migrate", "run.pid"), "utf8").catch(() => "")
            : "",
        (text) => text.endsWith("\n"),
        30_000,
        "the script running",
      ),
    );
    scriptGroups.push({ pid, state });

    // A reconcile waiting on the script would keep the process alive until the script ends.
    const stopAt = performance.now();
    const code = await first.stop("SIGTERM");
    const stopMs = performance.now() - stopAt;
    expect(code, first.stderr.join("\n")).toBe(0);
    // Typically under 100 ms; waiting on the script would take the rest of its 60 s.
    expect(stopMs).toBeLessThan(2_000);
    expect(alive(pid)).toBe(true);

    await writeFile(gate, "");
    start();
    const done = await until(
      record,
      (r) => r?.status !== "running",
      30_000,
      "the script's end recorded by the next agent",
    );
    expect(done).toMatchObject({ status: "succeeded", exitCode: 0 });
    expect(await readFile(runs, "utf8")).toBe("run\n");
  }, 90_000);
});
