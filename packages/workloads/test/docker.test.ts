import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:net";
import { canonicalHash, Controller, KindRegistry } from "@org/reconcile-core";
import { until } from "@org/reconcile-core/testing";
import { afterAll, describe, expect, it } from "vitest";
import { LABEL_OWNER, LABEL_RESOURCE, LABEL_SPEC_HASH } from "../src/driver.js";
import { containerKind } from "../src/drivers/docker/container-kind.js";
import { DockerEngine } from "../src/drivers/docker/engine.js";
import {
  DaemonUnreachableError,
  ImageNotFoundError,
  PortInUseError,
} from "../src/drivers/docker/errors.js";
import { type ContainerSpecInput, ContainerSpecSchema } from "../src/drivers/docker/spec.js";
import { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "../src/testing/docker.js";

const owner = `test-${randomUUID().slice(0, 8)}`;
const driver = new DockerEngine();
const spec = (input: Partial<ContainerSpecInput>) =>
  ContainerSpecSchema.parse({ image: TEST_IMAGE, ...input });
const labels = (id: string) => ({
  [LABEL_OWNER]: owner,
  [LABEL_RESOURCE]: id,
  [LABEL_SPEC_HASH]: "test",
});
let nextPort = 20_000 + Math.floor(Math.random() * 20_000);
const freePort = () => nextPort++;
const controllers: Controller[] = [];
/** Each controller gets its own owner: a controller deletes containers of its owner that it does not manage. */
const kindOwners: string[] = [];

describe.runIf(shouldRunDockerTests())(
  "Docker driver and Container kind (real Docker engine)",
  () => {
    afterAll(async () => {
      for (const c of controllers) c.stop();
      for (const o of [owner, ...kindOwners]) await removeOwned(driver, o);
    });

    it("runs a container with ports and environment that answers on the host port", async () => {
      const port = freePort();
      const id = await driver.run(
        `${owner}-web`,
        spec({
          command: [
            "sh",
            "-c",
            'echo "hello $GREETING" > /www/greeting.txt && exec httpd -f -p 8080 -h /www',
          ],
          env: { GREETING: "fleet" },
          ports: [`127.0.0.1:${port}:8080`],
          restartPolicy: "no",
        }),
        labels("web"),
      );
      const body = await until(
        () =>
          fetch(`http://127.0.0.1:${port}/greeting.txt`).then(
            (r) => r.text(),
            () => "",
          ),
        (text) => text !== "",
        10_000,
      );
      expect(body).toBe("hello fleet\n");
      const observed = await driver.inspect(id);
      expect(observed).toMatchObject({
        state: "running",
        labels: expect.objectContaining({ [LABEL_OWNER]: owner }),
      });
      expect(observed?.ports).toContainEqual({
        container: 8080,
        protocol: "tcp",
        host: port,
        hostIp: "127.0.0.1",
      });
    });

    it("applies CPU and memory limits, read-only root, capabilities and user, as docker inspect shows", async () => {
      const id = await driver.run(
        `${owner}-limits`,
        spec({
          command: ["sleep", "300"],
          cpus: "500m",
          memory: "64Mi",
          readOnly: true,
          capDrop: ["ALL"],
          user: "65534",
          restartPolicy: "on-failure",
        }),
        labels("limits"),
      );
      const info = await driver.docker.getContainer(id).inspect();
      expect(info.HostConfig).toMatchObject({
        NanoCpus: 500_000_000,
        Memory: 64 * 2 ** 20,
        ReadonlyRootfs: true,
        CapDrop: ["ALL"],
      });
      expect(info.HostConfig.RestartPolicy?.Name).toBe("on-failure");
      expect(info.Config.User).toBe("65534");
    });

    it("keeps stdout and stderr apart in logs, and follows them", async () => {
      const id = await driver.run(
        `${owner}-logs`,
        spec({
          command: [
            "sh",
            "-c",
            "echo out-1; echo err-1 >&2; echo out-2; sleep 1; echo late; sleep 300",
          ],
          restartPolicy: "no",
        }),
        labels("logs"),
      );
      const logs = await until(
        () => driver.logs(id),
        (l) => l.stdout.includes("out-2") && l.stderr.includes("err-1"),
      );
      expect(logs).toEqual({ stdout: "out-1\nout-2\n", stderr: "err-1\n" });
      const followed: string[] = [];
      const abort = new AbortController();
      const following = driver.followLogs(
        id,
        (line) => followed.push(`${line.stream}:${line.text}`),
        abort.signal,
      );
      await until(
        () => followed,
        (f) => f.includes("stdout:late"),
        10_000,
      );
      abort.abort();
      await following;
      expect(followed).toContain("stderr:err-1");
    });

    it("refuses a host port that is taken, naming the port and the holder", async () => {
      const port = freePort();
      await driver.run(
        `${owner}-holder`,
        spec({ command: ["sleep", "300"], ports: [`${port}:80`] }),
        labels("holder"),
      );
      await expect(
        driver.run(
          `${owner}-taker`,
          spec({ command: ["sleep", "300"], ports: [`${port}:80`] }),
          labels("taker"),
        ),
      ).rejects.toThrow(
        new PortInUseError(`port ${port}/tcp is already in use by container ${owner}-holder`),
      );
      const hostPort = freePort();
      const server: Server = createServer().listen(hostPort, "0.0.0.0");
      await new Promise((r) => server.once("listening", r));
      try {
        await expect(
          driver.run(
            `${owner}-taker2`,
            spec({ command: ["sleep", "300"], ports: [`${hostPort}:80`] }),
            labels("taker2"),
          ),
        ).rejects.toThrow(
          `port ${hostPort}/tcp is already in use on 0.0.0.0 by a process on this host`,
        );
      } finally {
        server.close();
      }
    });

    it("says clearly when the image is missing, the limits are invalid, or the daemon is unreachable", async () => {
      await expect(
        driver.run(`${owner}-noimage`, spec({ image: "no-such/image:1" }), labels("noimage")),
      ).rejects.toThrow(
        new ImageNotFoundError(
          "image 'no-such/image:1' not found locally (pulling is disabled; build or load it, or set pull: true)",
        ),
      );
      // Limits are refused where the spec is read, before anything reaches the engine.
      expect(() => spec({ memory: "lots" })).toThrow("invalid memory limit 'lots'");
      const nowhere = new DockerEngine({ socketPath: "/tmp/no-docker-here.sock" });
      await expect(nowhere.ping()).rejects.toThrow(DaemonUnreachableError);
      await expect(nowhere.ping()).rejects.toThrow(
        "cannot reach the Docker daemon at /tmp/no-docker-here.sock",
      );
    });

    describe("Container kind under the controller", () => {
      let kindOwner = "";
      let reconciles = 0;
      const start = () => {
        kindOwner = `${owner}-${kindOwners.length}`;
        kindOwners.push(kindOwner);
        const kind = containerKind({
          engine: driver,
          owner: kindOwner,
          namePrefix: `${kindOwner}-`,
          crashBackoff: { baseMs: 1_000, capMs: 4_000, jitter: 0 },
        });
        // Counted, so a test can wait for resyncs to have happened instead of sleeping.
        const reconcile = kind.reconciler.reconcile;
        kind.reconciler.reconcile = (...args) => {
          reconciles++;
          return reconcile(...args);
        };
        const controller = new Controller({
          kinds: new KindRegistry([kind]),
          resyncIntervalMs: 300,
          backoff: { baseMs: 200, capMs: 2_000 },
        });
        controller.start();
        controllers.push(controller);
        return controller;
      };
      const containerOf = async (id: string) =>
        (await driver.list({ [LABEL_OWNER]: kindOwner, [LABEL_RESOURCE]: id }))[0];

      it("creates the container, replaces it when removed by hand, and redeploys on a spec change without false redeploys", async () => {
        const controller = start();
        controller.apply({
          generation: 1,
          resources: [
            {
              kind: "Container",
              id: "app",
              spec: { image: TEST_IMAGE, command: ["sleep", "300"], stopGracePeriod: "1s" },
            },
          ],
        });
        const ready = await until(
          () => controller.status().resources.app,
          (s) => s?.state === "Ready",
          20_000,
        );
        const first = await containerOf("app");
        expect(first?.state).toBe("running");
        expect(ready).toMatchObject({ details: { name: `${kindOwner}-app` } });

        // Several resyncs later, the same container: nothing re-derived from inspect causes a redeploy.
        const seen = reconciles;
        await until(
          () => reconciles,
          (n) => n >= seen + 3,
          10_000,
          "three resyncs",
        );
        expect((await containerOf("app"))?.id).toBe(first?.id);
        expect(controller.status().resources.app?.state).toBe("Ready");

        await driver.remove(first!.id);
        const second = await until(
          () => containerOf("app"),
          (c) => c !== undefined && c.id !== first?.id && c.state === "running",
          10_000,
        );

        controller.apply({
          generation: 2,
          resources: [
            {
              kind: "Container",
              id: "app",
              spec: { image: TEST_IMAGE, command: ["sleep", "301"], stopGracePeriod: "1s" },
            },
          ],
        });
        await until(
          () => containerOf("app"),
          (c) => c !== undefined && c.id !== second?.id && c.state === "running",
          20_000,
        );
        await until(
          () => controller.status(),
          (s) => s.observedGeneration === 2 && s.resources.app?.state === "Ready",
          20_000,
        );

        controller.apply({ generation: 3, resources: [] });
        await until(
          () => containerOf("app"),
          (c) => c === undefined,
          20_000,
        );
      });

      it("starts a container its owner created but never started (a crash between create and start)", async () => {
        const controller = start();
        const desired = { image: TEST_IMAGE, command: ["sleep", "300"], stopGracePeriod: "1s" };
        const name = `${kindOwner}-half`;
        const created = await driver.docker.createContainer(
          driver.createOptions(name, ContainerSpecSchema.parse(desired), {
            [LABEL_OWNER]: kindOwner,
            [LABEL_RESOURCE]: "half",
            [LABEL_SPEC_HASH]: canonicalHash(ContainerSpecSchema.parse(desired)),
          }),
        );
        expect((await containerOf("half"))?.state).toBe("created");
        controller.apply({
          generation: 1,
          resources: [{ kind: "Container", id: "half", spec: desired }],
        });
        await until(
          () => controller.status().resources.half?.state,
          (s) => s === "Ready",
          20_000,
        );
        const c = await containerOf("half");
        expect(c).toMatchObject({ id: created.id, state: "running" });
      });

      it("replaces a replica whose health check starts failing", async () => {
        const controller = start();
        const healthSpec = {
          image: TEST_IMAGE,
          command: ["sh", "-c", "touch /tmp/healthy; exec sleep 300"],
          stopGracePeriod: "1s",
          healthCheck: {
            type: "file",
            path: "/tmp/healthy",
            interval: "300ms",
            timeout: "2s",
            retries: 2,
          },
        };
        controller.apply({
          generation: 1,
          resources: [{ kind: "Container", id: "health", spec: healthSpec }],
        });
        await until(
          () => controller.status().resources.health,
          (s) => s?.state === "Ready" && s.details?.health === "healthy",
          20_000,
        );
        const sick = (await containerOf("health"))!;
        await driver.exec(sick.id, ["rm", "/tmp/healthy"], 5_000);
        await until(
          () => containerOf("health"),
          (c) => c !== undefined && c.id !== sick.id && c.state === "running",
          20_000,
        );
      });

      it("restarts a crashing container at once, then backs off while it keeps crashing", async () => {
        const controller = start();
        controller.apply({
          generation: 1,
          resources: [
            {
              kind: "Container",
              id: "crash",
              spec: {
                image: TEST_IMAGE,
                command: ["sh", "-c", "exit 3"],
                restartPolicy: "on-failure",
              },
            },
          ],
        });
        const failed = await until(
          () => controller.status().resources.crash,
          (s) => s?.state === "Failed",
          20_000,
        );
        expect(failed).toMatchObject({
          error: expect.stringMatching(
            /^container exited with code 3 after \d+\.\ds, \d+ times in a row: restarting in \ds$/,
          ),
          retryAt: expect.any(String),
        });
      });
    });
  },
);
