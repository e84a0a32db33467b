import { execFile, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { lstat, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Controller, createLogger, KindRegistry, type Manifest } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import { shouldRunDockerTests } from "@org/workloads/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { EdgeAgent } from "../src/agent.js";
import { AgentConfigSchema } from "../src/config.js";
import { systemctlCommand, systemdUnitKind } from "../src/kinds/systemd.js";

/**
 * The SystemdUnit kind against a real systemd: Debian bookworm booted with systemd as PID 1 in
 * a container (the image scripts/systemd-image.sh builds), reached through
 * `docker exec <container> systemctl`, with the container's /etc/systemd/system bind-mounted
 * from a host directory the kind writes to. What the tests check in the container goes around
 * the kind (`docker exec ... systemctl` directly).
 */
const SYSTEMD_IMAGE = process.env.SYSTEMD_IMAGE ?? "fleet-test/systemd:bookworm";
const BUILD_HINT = "build it with `sudo scripts/systemd-image.sh` (npm run services does it too)";
const execFileAsync = promisify(execFile);

const hasImage = () => {
  try {
    execFileSync("docker", ["image", "inspect", SYSTEMD_IMAGE], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
/** Like other service-backed tests: skipped without the service locally, failed under CI=true. */
const skipReason =
  process.env.CI === "true"
    ? undefined
    : !shouldRunDockerTests()
      ? "no Docker engine answers"
      : !hasImage()
        ? `image ${SYSTEMD_IMAGE} is missing; ${BUILD_HINT}`
        : undefined;
if (skipReason) console.warn(`systemd.test.ts skipped: ${skipReason}`);

/** `docker run` flags that let systemd run as PID 1 without --privileged, for the host's cgroups. */
function cgroupFlags(): string[] {
  const version = execFileSync("docker", ["info", "--format", "{{.CgroupVersion}}"], {
    encoding: "utf8",
  }).trim();
  // v1: systemd finds its name=systemd hierarchy in the host's tree; v2 needs it writable.
  return version === "2"
    ? ["--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]
    : ["-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro"];
}

const manifest = (generation: number, ...resources: Manifest["resources"]): Manifest => ({
  generation,
  resources,
});
const unit = (id: string, name: string, content: string) => ({
  kind: "SystemdUnit",
  id,
  spec: { name, content },
});
const service = (execStart: string, extra = "") =>
  `[Unit]\nDescription=fleet test\n[Service]\n${extra}ExecStart=${execStart}\n[Install]\nWantedBy=multi-user.target\n`;

describe.skipIf(skipReason !== undefined)(
  `SystemdUnit against a real systemd (${SYSTEMD_IMAGE})${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    const container = `fleet-systemd-test-${randomUUID().slice(0, 8)}`;
    let unitDir: string;
    let controller: Controller;

    /** Runs a command in the container, around the kind; resolves with its exit code. */
    const inContainer = async (...args: string[]) => {
      try {
        const { stdout } = await execFileAsync("docker", ["exec", container, ...args]);
        return { code: 0, out: stdout.trim() };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return { code: e.code ?? -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`.trim() };
      }
    };
    const property = async (name: string, prop: string) =>
      (await inContainer("systemctl", "show", `--property=${prop}`, "--value", name)).out;
    const isActive = async (name: string) =>
      (await inContainer("systemctl", "is-active", name)).out;
    const applied = async (m: Manifest) => {
      expect(controller.apply(m)).toEqual({ applied: true, generation: m.generation });
      await controller.idle();
      return controller.status().resources;
    };

    beforeAll(async () => {
      if (!hasImage()) throw new Error(`image ${SYSTEMD_IMAGE} is missing: ${BUILD_HINT}`);
      unitDir = await tempDir("systemd-units");
      await execFileAsync("docker", [
        "run",
        "-d",
        "--pull=never",
        "--name",
        container,
        "--label",
        "fleet-test=systemd",
        "--stop-signal",
        "SIGRTMIN+3",
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        ...cgroupFlags(),
        "-v",
        `${unitDir}:/etc/systemd/system`,
        SYSTEMD_IMAGE,
      ]);
      // "degraded" is booted too (some unit of the image failed); "starting" is not yet.
      await until(
        () => inContainer("systemctl", "is-system-running"),
        (r) => r.out === "running" || r.out === "degraded",
        60_000,
        `systemd in ${container} booted (systemctl is-system-running)`,
      );
      controller = new Controller({
        kinds: new KindRegistry([
          systemdUnitKind({
            systemctl: systemctlCommand(["docker", "exec", container, "systemctl"]),
            unitDir,
          }),
        ]),
        resyncIntervalMs: 0,
        statusIntervalMs: 0,
        backoff: { baseMs: 60_000, capMs: 60_000 },
      });
      controller.start();
    }, 90_000);

    afterAll(async () => {
      controller?.stop();
      await execFileAsync("docker", ["rm", "-f", container]).catch(() => undefined);
      if (unitDir) await rm(unitDir, { recursive: true, force: true });
    });

    const web = "fleet-web.service";
    const webV1 = service("/bin/sleep infinity");
    const webV2 = service(
      "/bin/sh -c 'echo v2 >/run/fleet-web.version; exec sleep infinity'",
      "Environment=VERSION=2\n",
    );

    it("writes a unit, enables it and starts it", async () => {
      const resources = await applied(manifest(1, unit("web", web, webV1)));
      expect(resources.web).toMatchObject({ state: "Ready" });
      expect(await readFile(join(unitDir, web), "utf8")).toBe(webV1);
      expect(await isActive(web)).toBe("active");
      expect((await inContainer("systemctl", "is-enabled", web)).out).toBe("enabled");
      // `enable` made the link in the bind-mounted directory, where systemd looks.
      expect((await lstat(join(unitDir, "multi-user.target.wants", web))).isSymbolicLink()).toBe(
        true,
      );
    });

    it("restarts a unit whose file changed", async () => {
      const before = await property(web, "MainPID");
      expect(Number(before)).toBeGreaterThan(0);
      const resources = await applied(manifest(2, unit("web", web, webV2)));
      expect(resources.web).toMatchObject({ state: "Ready" });
      expect(await isActive(web)).toBe("active");
      const after = await property(web, "MainPID");
      expect(Number(after)).toBeGreaterThan(0);
      expect(after).not.toBe(before);
      expect((await inContainer("cat", "/run/fleet-web.version")).out).toBe("v2");
    });

    it("starts again, on resync, a unit stopped by hand (drift)", async () => {
      expect((await inContainer("systemctl", "stop", web)).code).toBe(0);
      expect(await isActive(web)).toBe("inactive");
      await controller.resync();
      await controller.idle();
      expect(await isActive(web)).toBe("active");
      expect(controller.status().resources.web).toMatchObject({
        state: "Ready",
        details: { unit: web, enabled: true, active: "running" },
      });
    });

    it("reports a unit whose process crashes as Failed, with systemd's reason", async () => {
      const crash = "fleet-crash.service";
      const missing = "fleet-missing.service";
      const looping = "fleet-looping.service";
      const resources = await applied(
        manifest(
          3,
          unit("web", web, webV2),
          unit("crash", crash, service("/bin/sh -c 'exit 3'")),
          // Type=exec: `systemctl start` itself fails, and says so at once.
          unit("missing", missing, service("/no/such/program", "Type=exec\n")),
          // Its own Restart= brings it back: in systemd's hands, so reported, never started by us.
          unit(
            "looping",
            looping,
            service("/bin/sh -c 'exit 4'", "Restart=always\nRestartSec=1h\n"),
          ),
        ),
      );
      expect(resources.missing).toMatchObject({ state: "Failed" });
      const missingError = resources.missing?.state === "Failed" ? resources.missing.error : "";
      expect(missingError).toContain(`systemctl start ${missing} failed`);
      expect(missingError).toContain("Result=exit-code, status=203/EXEC");

      // A simple service is started when its process is; it dies after. systemd's verdict:
      await until(
        () => property(crash, "ActiveState"),
        (s) => s === "failed",
        10_000,
        `${crash} failed in systemd`,
      );
      await until(
        () => property(looping, "SubState"),
        (s) => s === "auto-restart",
        10_000,
        `${looping} waiting on its own restart`,
      );
      await controller.resync();
      await controller.idle();
      const looped = controller.status().resources.looping;
      expect(looped).toMatchObject({ state: "Failed" });
      expect(looped?.state === "Failed" ? looped.error : "").toContain(
        `unit ${looping} keeps crashing: Result=exit-code, status=4`,
      );
      expect(await property(looping, "SubState")).toBe("auto-restart");
      const crashed = controller.status().resources.crash;
      expect(crashed).toMatchObject({ state: "Failed" });
      const crashError = crashed?.state === "Failed" ? crashed.error : "";
      expect(crashError).toContain(`unit ${crash} had failed: Result=exit-code, status=3`);
      expect(crashError).toContain(`journalctl -u ${crash}`);
      // The crash is retried on the controller's backoff (60 s here), not at every resync.
      expect(crashed?.state === "Failed" && crashed.retryAt).toBeTruthy();
      expect(controller.status().resources.web).toMatchObject({ state: "Ready" });
    });

    /** Nothing of `name` is left: not running, no file, no link, nothing systemd remembers (not even a failure). */
    const expectGone = async (name: string) => {
      expect(await isActive(name)).toBe("inactive");
      expect(await property(name, "LoadState")).toBe("not-found");
      expect(await lstat(join(unitDir, name)).catch(() => undefined)).toBeUndefined();
      expect(
        await lstat(join(unitDir, "multi-user.target.wants", name)).catch(() => undefined),
      ).toBeUndefined();
    };
    const renamed = "fleet-web-renamed.service";

    it("stops, disables and removes dropped units, one that never started too", async () => {
      // `web` is renamed under the same id: its old unit goes like a dropped one.
      const resources = await applied(manifest(4, unit("web", renamed, webV1)));
      expect(Object.keys(resources)).toEqual(["web"]);
      expect(resources.web).toMatchObject({ state: "Ready" });
      expect(await isActive(renamed)).toBe("active");
      for (const name of [
        web,
        "fleet-crash.service",
        "fleet-missing.service",
        "fleet-looping.service",
      ])
        await expectGone(name);
    });

    it("leaves nothing behind once the manifest is empty", async () => {
      expect(await applied(manifest(5))).toEqual({});
      await expectGone(renamed);
      const left = await inContainer(
        "systemctl",
        "list-units",
        "--all",
        "--plain",
        "--no-legend",
        "fleet-*",
      );
      expect(left).toEqual({ code: 0, out: "" });
    });

    it("an agent reaches this systemd through its config's `systemd.systemctl` command line", async () => {
      const dir = await tempDir("systemd-agent");
      const manifestPath = join(dir, "manifest.yaml");
      const name = "fleet-agentcfg.service";
      const write = (resources: Manifest["resources"]) =>
        writeFile(manifestPath, stringify({ resources }));
      await write([unit("svc", name, service("/bin/sleep infinity"))]);
      // The config as an operator writes it: parsed by the agent's own schema.
      const config = AgentConfigSchema.parse({
        id: "systemd-agent",
        allowedRoots: [dir],
        stateDir: join(dir, "state"),
        machinesDir: join(dir, "machines"),
        systemd: { unitDir, systemctl: ["docker", "exec", container, "systemctl"] },
        docker: { enabled: false },
        source: { type: "file", path: manifestPath },
        statusInterval: "50ms",
        logLevel: "silent",
      });
      const agent = await EdgeAgent.create(config, createLogger("test", { level: "silent" }));
      try {
        await agent.start();
        await until(
          () => agent.status().resources.svc?.state,
          (state) => state === "Ready" || state === "Failed",
          60_000,
          "the agent's SystemdUnit settled",
        );
        expect(agent.status().resources.svc).toMatchObject({ state: "Ready" });
        expect(await isActive(name)).toBe("active");
        await write([]);
        await until(
          () => agent.status().resources,
          (resources) => resources.svc === undefined,
          60_000,
          "the unit dropped by the agent",
        );
        await expectGone(name);
      } finally {
        await agent.stop();
      }
    }, 120_000);
  },
);
