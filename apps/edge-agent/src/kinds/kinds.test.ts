import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Controller, KindRegistry, type Manifest } from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { fileKind } from "./file.js";
import { machineKind } from "./machine.js";
import { scriptKind } from "./script.js";
import { type Systemctl, systemctlCommand, systemdUnitKind } from "./systemd.js";

const controllers: Controller[] = [];
afterEach(() => {
  for (const c of controllers.splice(0)) c.stop();
});
function run(kinds: ConstructorParameters<typeof KindRegistry>[0], resyncIntervalMs = 0) {
  const controller = new Controller({
    kinds: new KindRegistry(kinds),
    resyncIntervalMs,
    statusIntervalMs: 0,
    backoff: { baseMs: 50, capMs: 200 },
  });
  controller.start();
  controllers.push(controller);
  return controller;
}
const manifest = (generation: number, ...resources: Manifest["resources"]): Manifest => ({
  generation,
  resources,
});
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("File kind", () => {
  it("writes content atomically with its mode, repairs drift in content and mode, and deletes a dropped file", async () => {
    const root = await tempDir("files");
    const controller = run([fileKind({ allowedRoots: [root] })], 100);
    const path = join(root, "etc/app/app.conf");
    controller.apply(
      manifest(1, { kind: "File", id: "conf", spec: { path, content: "port=80\n", mode: "0600" } }),
    );
    await controller.idle();
    expect(await readFile(path, "utf8")).toBe("port=80\n");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(controller.status().resources.conf).toMatchObject({
      state: "Ready",
      details: { sha256: sha("port=80\n") },
    });

    await writeFile(path, "port=1\n");
    await until(
      () => readFile(path, "utf8"),
      (t) => t === "port=80\n",
      5_000,
      "content repaired",
    );
    await chmod(path, 0o666);
    await until(
      async () => (await stat(path)).mode & 0o777,
      (m) => m === 0o600,
      5_000,
      "mode repaired",
    );

    controller.apply(
      manifest(2, {
        kind: "File",
        id: "other",
        spec: {
          path: join(root, "b64.bin"),
          contentBase64: Buffer.from([0, 1, 2, 255]).toString("base64"),
        },
      }),
    );
    await controller.idle();
    await expect(stat(path)).rejects.toThrow();
    expect([...(await readFile(join(root, "b64.bin")))]).toEqual([0, 1, 2, 255]);
  });

  it("refuses paths outside the roots, with '..', and through symbolic links, as terminal failures", async () => {
    const root = await tempDir("files");
    const outside = await tempDir("outside");
    await symlink(outside, join(root, "escape"));
    await writeFile(join(outside, "target"), "x");
    await symlink(join(outside, "target"), join(root, "link"));
    const controller = run([fileKind({ allowedRoots: [root] })]);
    controller.apply(
      manifest(
        1,
        { kind: "File", id: "passwd", spec: { path: "/etc/passwd", content: "pwned" } },
        { kind: "File", id: "dots", spec: { path: `${root}/../etc/passwd`, content: "pwned" } },
        {
          kind: "File",
          id: "dirlink",
          spec: { path: join(root, "escape", "file"), content: "pwned" },
        },
        { kind: "File", id: "filelink", spec: { path: join(root, "link"), content: "pwned" } },
        { kind: "File", id: "fine", spec: { path: join(root, "ok.txt"), content: "ok" } },
      ),
    );
    await controller.idle();
    const s = controller.status().resources;
    expect(s.passwd).toMatchObject({
      state: "Failed",
      error: `path /etc/passwd is outside the allowed roots (${root})`,
    });
    expect(s.dots).toMatchObject({
      state: "Failed",
      error: `path '${root}/../etc/passwd' contains '..'`,
    });
    expect(s.dirlink).toMatchObject({
      state: "Failed",
      error: expect.stringContaining("through a symbolic link"),
    });
    expect(s.filelink).toMatchObject({
      state: "Failed",
      error: expect.stringContaining("is a symbolic link"),
    });
    expect(s.passwd).not.toHaveProperty("retryAt");
    expect(s.fine?.state).toBe("Ready");
    expect(await readFile(join(outside, "target"), "utf8")).toBe("x");
  });

  it("checks a sha256-only file without writing it, and caps content size", async () => {
    const root = await tempDir("files");
    await writeFile(join(root, "given"), "firmware");
    const controller = run([fileKind({ allowedRoots: [root], maxBytes: 16 })]);
    controller.apply(
      manifest(
        1,
        {
          kind: "File",
          id: "ok",
          spec: { path: join(root, "given"), sha256: sha("firmware"), mode: "0644" },
        },
        { kind: "File", id: "bad", spec: { path: join(root, "given"), sha256: sha("other") } },
        { kind: "File", id: "big", spec: { path: join(root, "big"), content: "x".repeat(17) } },
        { kind: "File", id: "neither", spec: { path: join(root, "n") } },
      ),
    );
    await controller.idle();
    const s = controller.status().resources;
    expect(s.ok?.state).toBe("Ready");
    expect(s.bad).toMatchObject({
      state: "Failed",
      error: expect.stringContaining("the manifest gives no content to restore"),
    });
    expect(s.big).toMatchObject({ state: "Failed", error: "content is 17 bytes; the limit is 16" });
    expect(s.neither).toMatchObject({
      state: "Failed",
      error: expect.stringContaining("give content, contentBase64 or sha256"),
    });
  });
});

describe("Script kind", () => {
  const script = (content: string, extra: Record<string, unknown> = {}) => ({
    kind: "Script",
    id: "s",
    spec: { content, ...extra },
  });

  it("is refused unless scripts are allowed", async () => {
    const controller = run([scriptKind({ stateDir: await tempDir("state"), allowed: false })]);
    controller.apply(manifest(1, script("echo hi")));
    await controller.idle();
    expect(controller.status().resources.s).toMatchObject({
      state: "Failed",
      error: "scripts are disabled",
    });
  });

  it("runs once per content (not on resync), again when the content changes, and reports exit code, duration and output", async () => {
    const state = await tempDir("state");
    const out = await tempDir("out");
    const controller = run([scriptKind({ stateDir: state, allowed: true })], 100);
    controller.apply(manifest(1, script(`echo run >> ${out}/runs; echo done; echo warn >&2`)));
    await until(
      () => controller.status().resources.s?.state,
      (s) => s === "Ready",
    );
    expect(controller.status().resources.s).toMatchObject({
      details: { exitCode: 0, stdout: "done\n", stderr: "warn\n", durationMs: expect.any(Number) },
    });
    await new Promise((r) => setTimeout(r, 400)); // several resyncs
    controller.apply(manifest(2, script(`echo run >> ${out}/runs; echo done; echo warn >&2`)));
    await controller.idle();
    expect(await readFile(join(out, "runs"), "utf8")).toBe("run\n");
    controller.apply(manifest(3, script(`echo run2 >> ${out}/runs`)));
    await until(
      () => readFile(join(out, "runs"), "utf8").catch(() => ""),
      (t) => t === "run\nrun2\n",
    );
  });

  it("with runOn: generation, runs once per generation", async () => {
    const out = await tempDir("out");
    const controller = run([scriptKind({ stateDir: await tempDir("state"), allowed: true })]);
    const s = script(`echo x >> ${out}/runs`, { runOn: "generation" });
    controller.apply(manifest(1, s));
    await until(
      () => controller.status().resources.s?.state,
      (x) => x === "Ready",
    );
    controller.apply(manifest(2, s));
    await until(
      () => readFile(join(out, "runs"), "utf8").catch(() => ""),
      (t) => t === "x\nx\n",
    );
  });

  it("reports a failure with its exit code and stderr, and a timeout, without re-running", async () => {
    const controller = run([scriptKind({ stateDir: await tempDir("state"), allowed: true })], 100);
    controller.apply(
      manifest(1, script("echo broken >&2; exit 4"), {
        kind: "Script",
        id: "slow",
        spec: { content: "sleep 10", timeout: "300ms" },
      }),
    );
    await until(
      () => controller.status().resources,
      (r) => r.s?.state === "Failed" && r.slow?.state === "Failed",
    );
    expect(controller.status().resources.s).toMatchObject({
      error: "script exited with code 4: broken",
    });
    expect(controller.status().resources.slow).toMatchObject({
      error: "script timed out after 300ms",
    });
  });
});

describe("Machine kind", () => {
  const machineYaml = (version: string) =>
    `name: Probe\nversion: ${version}\ninitial_state: a\ntransitions:\n  - {name: go, from: [a], destination: b}\nwatchers:\n  - {name: w, type: exec, success_transition: go, properties: {command: check.sh}}\n`;

  it("installs a machine with its files, updates it in place keeping its data, and refuses an invalid one", async () => {
    const machines = await tempDir("machines");
    const controller = run([machineKind({ machinesDir: machines, allowExec: true })]);
    const files = { "check.sh": { content: "#!/bin/sh\nexit 0\n", mode: "0755" } };
    controller.apply(
      manifest(1, { kind: "Machine", id: "probe", spec: { machine: machineYaml("1.0.0"), files } }),
    );
    await controller.idle();
    expect(await readFile(join(machines, "probe", "machine.yaml"), "utf8")).toContain(
      "version: 1.0.0",
    );
    expect((await stat(join(machines, "probe", "check.sh"))).mode & 0o777).toBe(0o755);
    await writeFile(join(machines, "probe", ".machine-data.json"), '{"kept":true}');

    controller.apply(
      manifest(2, { kind: "Machine", id: "probe", spec: { machine: machineYaml("1.1.0"), files } }),
    );
    await controller.idle();
    expect(await readFile(join(machines, "probe", "machine.yaml"), "utf8")).toContain(
      "version: 1.1.0",
    );
    expect(await readFile(join(machines, "probe", ".machine-data.json"), "utf8")).toBe(
      '{"kept":true}',
    );

    controller.apply(
      manifest(3, {
        kind: "Machine",
        id: "probe",
        spec: {
          machine: machineYaml("1.2.0").replace(
            "success_transition: go",
            "success_transition: goo",
          ),
          files,
        },
      }),
    );
    await controller.idle();
    expect(controller.status().resources.probe).toMatchObject({
      state: "Failed",
      error: expect.stringContaining("invalid success_transition goo specified in watcher w"),
    });
    expect(await readFile(join(machines, "probe", "machine.yaml"), "utf8")).toContain(
      "version: 1.1.0",
    );
  });
});

describe("SystemdUnit kind", () => {
  /**
   * This machine has no running systemd. Enablement goes through the real `systemctl --root`,
   * which works offline; starting and stopping, which need a running manager, go to a stand-in
   * that keeps unit states and records the calls.
   */
  function offlineSystemctl(root: string) {
    const real = systemctlCommand();
    const active = new Set<string>();
    const calls: string[] = [];
    const ctl: Systemctl = {
      async run(args) {
        calls.push(args.join(" "));
        const [verb, unit] = args;
        if (verb === "enable" || verb === "disable" || verb === "is-enabled")
          return real.run([`--root=${root}`, ...args]);
        if (verb === "daemon-reload") return { code: 0, stdout: "", stderr: "" };
        if (verb === "is-active")
          return { code: active.has(unit!) ? 0 : 3, stdout: "", stderr: "" };
        if (verb === "start" || verb === "restart") active.add(unit!);
        if (verb === "stop") active.delete(unit!);
        return { code: 0, stdout: "", stderr: "" };
      },
    };
    return { ctl, calls, active };
  }
  const hasSystemctl = (() => {
    try {
      execFileSync("systemctl", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

  it.runIf(hasSystemctl || process.env.CI === "true")(
    "writes the unit, enables it (real systemctl --root), starts it, restarts it on change, and removes it",
    async () => {
      const root = await tempDir("sdroot");
      const unitDir = join(root, "etc/systemd/system");
      await mkdir(unitDir, { recursive: true });
      const { ctl, calls, active } = offlineSystemctl(root);
      const controller = run([systemdUnitKind({ systemctl: ctl, unitDir })]);
      const unit = (exec: string) =>
        `[Unit]\nDescription=demo\n[Service]\nExecStart=${exec}\n[Install]\nWantedBy=multi-user.target\n`;
      controller.apply(
        manifest(1, {
          kind: "SystemdUnit",
          id: "demo",
          spec: { name: "demo.service", content: unit("/bin/sleep 1000") },
        }),
      );
      await controller.idle();
      expect(controller.status().resources.demo?.state).toBe("Ready");
      expect(await readFile(join(unitDir, "demo.service"), "utf8")).toBe(unit("/bin/sleep 1000"));
      expect(
        (await lstat(join(unitDir, "multi-user.target.wants", "demo.service"))).isSymbolicLink(),
      ).toBe(true);
      expect(active.has("demo.service")).toBe(true);

      calls.length = 0;
      controller.apply(
        manifest(2, {
          kind: "SystemdUnit",
          id: "demo",
          spec: { name: "demo.service", content: unit("/bin/sleep 2000") },
        }),
      );
      await controller.idle();
      expect(calls).toEqual([
        "daemon-reload",
        "is-enabled demo.service",
        "is-active demo.service",
        "restart demo.service",
      ]);

      controller.apply(
        manifest(3, {
          kind: "SystemdUnit",
          id: "demo",
          spec: {
            name: "demo.service",
            content: unit("/bin/sleep 2000"),
            enabled: false,
            active: "stopped",
          },
        }),
      );
      await controller.idle();
      expect(active.has("demo.service")).toBe(false);
      expect(
        await lstat(join(unitDir, "multi-user.target.wants", "demo.service")).catch(
          () => undefined,
        ),
      ).toBeUndefined();

      controller.apply(manifest(4));
      await controller.idle();
      expect(await stat(join(unitDir, "demo.service")).catch(() => undefined)).toBeUndefined();
    },
  );
});

describe("Machine kind without remote exec", () => {
  it("refuses a machine whose watchers run commands, and accepts one that does not", async () => {
    const machines = await tempDir("machines");
    const controller = run([machineKind({ machinesDir: machines, allowExec: false })]);
    const execMachine =
      "name: Runner\nversion: 1.0.0\ninitial_state: a\ntransitions:\n  - {name: go, from: [a], destination: b}\nwatchers:\n  - {name: deploy, type: exec, success_transition: go, properties: {command: ./deploy.sh}}\n";
    const timerMachine =
      "name: Clock\nversion: 1.0.0\ninitial_state: a\ntransitions:\n  - {name: go, from: [a], destination: b}\nwatchers:\n  - {name: t, type: timer, fail_transition: go, properties: {timer: 1m}}\n";
    controller.apply(
      manifest(
        1,
        { kind: "Machine", id: "runner", spec: { machine: execMachine } },
        { kind: "Machine", id: "clock", spec: { machine: timerMachine } },
      ),
    );
    await controller.idle();
    expect(controller.status().resources.runner).toMatchObject({
      state: "Failed",
      error:
        "machine Runner runs commands (deploy (exec)), and remote exec is disabled on this agent (scripts.allowed)",
    });
    expect(controller.status().resources.clock?.state).toBe("Ready");
    await expect(stat(join(machines, "runner"))).rejects.toThrow();
  });
});
