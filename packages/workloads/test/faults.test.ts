import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir, until } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";
import { LABEL_OWNER } from "../src/driver.js";
import { DockerEngine } from "../src/drivers/docker/engine.js";
import { NameConflictError } from "../src/drivers/docker/errors.js";
import { InvalidSpecError } from "../src/drivers/docker/quantities.js";
import { ContainerSpecSchema } from "../src/drivers/docker/spec.js";
import { ProcessSpecSchema, processDriver } from "../src/drivers/process/driver.js";
import { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "../src/testing/docker.js";

/** Alive and not a zombie waiting for a parent that does not reap it. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

describe("the container spec refuses what the engine would refuse", () => {
  it.each([
    [{ memory: "5 GB" }, /invalid memory limit '5 GB'/],
    [{ cpus: "2 cores" }, /invalid CPU limit/],
    [
      { volumes: ["./data:/data"] },
      /bind mount source '\.\/data' \(for \/data\) is a relative path/,
    ],
    [
      { volumes: [{ type: "bind", source: "data", target: "/data" }] },
      /bind mount source 'data' \(for \/data\) is a relative path/,
    ],
    [{ ports: ["80:99999"] }, /invalid container port/],
  ])("%j", (extra, message) => {
    const parsed = ContainerSpecSchema.safeParse({ image: "x:1", ...extra });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message).join("; ")).toMatch(message);
  });
});

describe("process driver: a replica whose recorded pid was killed with kill -9", () => {
  it("does not leave its command running: restart and remove stop the whole group", async () => {
    const dir = await tempDir("process-faults");
    const driver = processDriver({ dir });
    const childFile = join(dir, "child.pid");
    const spec = ProcessSpecSchema.parse({
      command: ["sh", "-c", `sleep 300 & echo $! > ${childFile}; wait`],
      stopGracePeriod: "1s",
    });
    const labels = { [LABEL_OWNER]: "process-faults" };
    const w = await driver.create({ name: "orphan", spec, labels, idempotencyKey: "k" });
    const child = Number(
      await until(
        () => readFile(childFile, "utf8").catch(() => ""),
        (t) => t.endsWith("\n"),
        5_000,
        "child pid written",
      ),
    );
    // The user kills the pid the driver recorded: the wrapper dies, its command lives on.
    process.kill(w.details.pid as number, "SIGKILL");
    const exited = await until(
      () => driver.inspect(w.id),
      (o) => o?.state === "exited",
      5_000,
      "wrapper seen gone",
    );
    expect(await running(child)).toBe(true);
    await driver.restart!(exited!, spec);
    await until(
      () => running(child),
      (alive) => !alive,
      5_000,
      "old command stopped on restart",
    );

    // The same after the restart: remove (as `delete` does) takes the leftover with it.
    const second = Number(
      await until(
        () => readFile(childFile, "utf8").catch(() => ""),
        (t) => t.endsWith("\n") && Number(t) !== child,
        5_000,
        "new child pid written",
      ),
    );
    const again = await driver.inspect(w.id);
    process.kill(again!.details.pid as number, "SIGKILL");
    await until(
      () => driver.inspect(w.id),
      (o) => o?.state === "exited",
      5_000,
    );
    await driver.remove(w.id);
    await until(
      () => running(second),
      (alive) => !alive,
      5_000,
      "leftover stopped on remove",
    );
  });
});

describe("Docker engine errors say what failed, on which input, and what to do", () => {
  it("names the DOCKER_HOST endpoint it could not reach, not the default socket", async () => {
    const before = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = "tcp://127.0.0.1:1";
    try {
      const engine = new DockerEngine();
      await expect(engine.ping()).rejects.toThrow(
        /^cannot reach the Docker daemon at tcp:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\) to ping: /,
      );
    } finally {
      if (before === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = before;
    }
  });

  describe.runIf(shouldRunDockerTests())("(real engine)", () => {
    const owner = `faults-${randomUUID().slice(0, 6)}`;
    const engine = new DockerEngine();
    const spec = (extra: Record<string, unknown> = {}) =>
      ContainerSpecSchema.parse({
        image: TEST_IMAGE,
        command: ["sleep", "300"],
        stopGracePeriod: "1s",
        ...extra,
      });

    it("a taken name says by which container and what to do", async () => {
      const name = `dup-${owner}`;
      try {
        const first = await engine.run(name, spec(), { [LABEL_OWNER]: owner });
        const second = engine.run(name, spec(), { [LABEL_OWNER]: owner });
        await expect(second).rejects.toThrow(NameConflictError);
        await expect(second).rejects.toThrow(
          `container name '${name}' is already taken by container ${first.slice(0, 12)} (image ${TEST_IMAGE}, running, managed by owner '${owner}'): remove that container (\`docker rm -f ${name}\`) or use another name`,
        );
      } finally {
        await removeOwned(engine, owner);
      }
    });

    it("a spec Docker refuses (64 CPUs) is an InvalidSpecError naming the container", async () => {
      const run = engine.run(`cpus-${owner}`, spec({ cpus: 64 }), { [LABEL_OWNER]: owner });
      await expect(run).rejects.toThrow(InvalidSpecError);
      await expect(run).rejects.toThrow(
        /^Docker refused to create container 'cpus-.*': Range of CPUs is from 0\.01 to .*: change the spec$/,
      );
      await removeOwned(engine, owner);
    });

    it("stats of a container that is gone or stopped is undefined, not a crash", async () => {
      const id = await engine.run(
        `stats-${owner}`,
        spec({ command: ["true"], restartPolicy: "no" }),
        {
          [LABEL_OWNER]: owner,
        },
      );
      await until(
        () => engine.inspect(id),
        (c) => c?.state === "exited",
        10_000,
      );
      expect(await engine.stats(id)).toBeUndefined();
      await engine.remove(id);
      expect(await engine.stats(id)).toBeUndefined();
    });
  });
});
