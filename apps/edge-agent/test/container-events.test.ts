import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CliProcess } from "@org/reconcile-core/testing";
import { tempDir, until } from "@org/reconcile-core/testing";
import { DockerEngine } from "@org/workloads/docker";
import { LABEL_OWNER, LABEL_RESOURCE } from "@org/workloads";
import { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "@org/workloads/testing";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Cli } from "./cli.js";

describe.runIf(shouldRunDockerTests())("the agent's Container resource and Docker events", () => {
  const id = `ev-${process.pid}`;
  const owner = `edge-agent-${id}`;
  const docker = new DockerEngine();
  let agent: CliProcess | undefined;

  afterAll(async () => {
    await agent?.stop("SIGTERM");
    await removeOwned(docker, owner);
  });

  const running = async () =>
    (await docker.list({ [LABEL_OWNER]: owner })).filter((c) => c.state === "running");

  it("brings back a container removed by hand at once, not at the next resync (10 min here)", async () => {
    const dir = await tempDir("agent-events");
    await writeFile(
      join(dir, "manifest.yaml"),
      stringify({
        resources: [
          {
            kind: "Container",
            id: "sleeper",
            spec: { image: TEST_IMAGE, command: ["sleep", "3600"], stopGracePeriod: "1s" },
          },
        ],
      }),
    );
    await writeFile(
      join(dir, "agent.yaml"),
      stringify({
        id,
        source: { type: "file", path: "manifest.yaml" },
        resync: "10m",
        stateDir: "state",
        machinesDir: "machines",
        logLevel: "warn",
      }),
    );
    agent = Cli.start(["run", "--config", join(dir, "agent.yaml")]);
    const [first] = await until(running, (c) => c.length === 1, 60_000, "the container running");
    expect(first?.labels[LABEL_RESOURCE]).toBe("sleeper");

    const removedAt = Date.now();
    await docker.remove(first!.id);
    const [again] = await until(
      running,
      (c) => c.length === 1 && c[0]?.id !== first?.id,
      30_000,
      "a new container after `docker rm -f`",
    );
    expect(again?.name).toBe(`${id}-sleeper`);
    // Far inside the 10 min resync: the Docker event triggered the repair.
    expect(Date.now() - removedAt).toBeLessThan(30_000);
  }, 120_000);
});
