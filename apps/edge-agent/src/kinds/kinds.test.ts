import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type AnyResourceKind,
  builtinWatchers,
  Controller,
  type ControllerOptions,
  KindRegistry,
  type Manifest,
  silentLogger,
} from "@org/reconcile-core";
import { tempDir, until } from "@org/reconcile-core/testing";
import { afterEach, describe, expect, it } from "vitest";
import { FileSpecSchema, fileKind } from "./file.js";
import { machineKind } from "./machine.js";
import { scriptKind } from "./script.js";

const controllers: Controller[] = [];
afterEach(() => {
  for (const c of controllers.splice(0)) c.stop();
});
function run(
  kinds: ConstructorParameters<typeof KindRegistry>[0],
  resyncIntervalMs = 0,
  options: Partial<ControllerOptions> = {},
) {
  const controller = new Controller({
    kinds: new KindRegistry(kinds),
    resyncIntervalMs,
    statusIntervalMs: 0,
    backoff: { baseMs: 50, capMs: 200 },
    ...options,
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
/** Counts a kind's reconciles, so a test waits for resyncs to have happened instead of sleeping. */
function counted(kind: AnyResourceKind) {
  const counter = { reconciles: 0 };
  const { reconciler } = kind;
  const wrapped: AnyResourceKind = {
    ...kind,
    reconciler: {
      ...reconciler,
      reconcile: (resource, observed, ctx) => {
        counter.reconciles++;
        return reconciler.reconcile(resource, observed, ctx);
      },
    },
  };
  return { kind: wrapped, counter };
}
/** True while `pid` runs (a zombie, dead but not yet reaped, does not count). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}

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

describe("File kind observing", () => {
  const ctx = { signal: new AbortController().signal, log: silentLogger, generation: 1 };
  const fileAt = (path: string, content = "desired") => ({
    kind: "File",
    id: "f",
    spec: FileSpecSchema.parse({ path, content }),
  });

  it("observes hash, mode and owner at the spec's path, or a refusal, and writes nothing", async () => {
    const root = await tempDir("files");
    const path = join(root, "a.conf");
    await writeFile(path, "hello");
    await chmod(path, 0o640);
    const { reconciler } = fileKind({ allowedRoots: [root] });
    expect(await reconciler.observe("f", ctx, fileAt(path))).toEqual({
      path,
      target: path,
      file: {
        sha256: sha("hello"),
        mode: 0o640,
        uid: process.getuid?.(),
        gid: process.getgid?.(),
        size: 5,
      },
    });
    expect(await reconciler.observe("f", ctx, fileAt(join(root, "none")))).toEqual({
      path: join(root, "none"),
      target: join(root, "none"),
    });
    expect(await reconciler.observe("f", ctx, fileAt("/etc/passwd"))).toEqual({
      path: "/etc/passwd",
      refused: `path /etc/passwd is outside the allowed roots (${root})`,
    });
    expect(await readFile(path, "utf8")).toBe("hello");
    await expect(stat(join(root, "none"))).rejects.toThrow();
  });

  it("refuses to write through a symbolic link planted after the observation", async () => {
    const root = await tempDir("files");
    const outside = await tempDir("outside");
    const desired = fileAt(join(root, "sub", "app.conf"));
    const { reconciler } = fileKind({ allowedRoots: [root] });
    const observed = await reconciler.observe("f", ctx, desired);
    expect(observed).toEqual({ path: desired.spec.path, target: desired.spec.path });
    await symlink(outside, join(root, "sub"));
    await expect(reconciler.reconcile(desired, observed, ctx)).rejects.toThrow(
      "through a symbolic link",
    );
    expect(await readdir(outside)).toEqual([]);
  });
});

describe("Script kind", () => {
  const script = (content: string, extra: Record<string, unknown> = {}, id = "s") => ({
    kind: "Script",
    id,
    spec: { content, ...extra },
  });
  /** State directories of scripts that may still run when a test ends: their process groups are killed. */
  const states: string[] = [];
  const scriptState = async () => {
    const dir = await tempDir("state");
    states.push(dir);
    return dir;
  };
  afterEach(async () => {
    for (const state of states.splice(0)) {
      const ids = await readdir(join(state, "scripts")).catch(() => []);
      for (const id of ids) {
        const pid = await readFile(join(state, "scripts", id, "run.pid"), "utf8").catch(() => "");
        // Only the script's own wrapper: a pid reused since must not be signalled.
        const command = await readFile(`/proc/${Number(pid)}/cmdline`, "utf8").catch(() => "");
        if (pid && command.includes(state)) killGroup(Number(pid));
      }
    }
  });
  const recordOf = (state: string, id = "s") =>
    readFile(join(state, "scripts", id, "record.json"), "utf8").then(
      (t) => JSON.parse(t) as Record<string, unknown>,
      () => undefined,
    );
  const runsIn = (dir: string) => readFile(join(dir, "runs"), "utf8").catch(() => "");

  it("is refused unless scripts are allowed", async () => {
    const controller = run([scriptKind({ stateDir: await scriptState(), allowed: false })]);
    controller.apply(manifest(1, script("echo hi")));
    await controller.idle();
    expect(controller.status().resources.s).toMatchObject({
      state: "Failed",
      error: "scripts are disabled",
    });
  });

  it("runs once per content (not on resync), again when the content changes, and reports exit code, duration and output", async () => {
    const out = await tempDir("out");
    const { kind, counter } = counted(scriptKind({ stateDir: await scriptState(), allowed: true }));
    const controller = run([kind], 100);
    controller.apply(manifest(1, script(`echo run >> ${out}/runs; echo done; echo warn >&2`)));
    await until(
      () => controller.status().resources.s?.state,
      (s) => s === "Ready",
    );
    expect(controller.status().resources.s).toMatchObject({
      details: { exitCode: 0, stdout: "done\n", stderr: "warn\n", durationMs: expect.any(Number) },
    });
    const seen = counter.reconciles;
    await until(
      () => counter.reconciles,
      (n) => n >= seen + 3,
      5_000,
      "three resyncs",
    );
    controller.apply(manifest(2, script(`echo run >> ${out}/runs; echo done; echo warn >&2`)));
    await controller.idle();
    expect(await runsIn(out)).toBe("run\n");
    controller.apply(manifest(3, script(`echo run2 >> ${out}/runs`)));
    await until(
      () => runsIn(out),
      (t) => t === "run\nrun2\n",
    );
  });

  it("with runOn: generation, runs once per generation", async () => {
    const out = await tempDir("out");
    const controller = run([scriptKind({ stateDir: await scriptState(), allowed: true })]);
    const s = script(`echo x >> ${out}/runs`, { runOn: "generation" });
    controller.apply(manifest(1, s));
    await until(
      () => controller.status().resources.s?.state,
      (x) => x === "Ready",
    );
    controller.apply(manifest(2, s));
    await until(
      () => runsIn(out),
      (t) => t === "x\nx\n",
    );
  });

  it("reports a failure with its exit code and stderr, and a timeout (killing the script), without re-running", async () => {
    const out = await tempDir("out");
    const { kind, counter } = counted(scriptKind({ stateDir: await scriptState(), allowed: true }));
    const controller = run([kind], 100);
    controller.apply(
      manifest(
        1,
        script(`echo run >> ${out}/runs; echo broken >&2; exit 4`),
        script(`echo $$ > ${out}/slow.pid; sleep 10`, { timeout: "300ms" }, "slow"),
      ),
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
    expect(controller.status().resources.slow).not.toHaveProperty("retryAt");
    const slowPid = Number(await readFile(join(out, "slow.pid"), "utf8"));
    await until(
      () => running(slowPid),
      (alive) => !alive,
      5_000,
      "the timed-out script killed",
    );
    const seen = counter.reconciles;
    await until(
      () => counter.reconciles,
      (n) => n >= seen + 6,
      5_000,
      "three resyncs of both",
    );
    expect(await runsIn(out)).toBe("run\n");
    expect(controller.status().resources.s?.state).toBe("Failed");
  });

  it("starts a long script (sleep 30, timeout 60s) and returns: with one worker, another resource converges meanwhile, and stop is immediate", async () => {
    const state = await scriptState();
    const root = await tempDir("files");
    const kinds = () => [
      scriptKind({ stateDir: state, allowed: true }),
      fileKind({ allowedRoots: [root] }),
    ];
    const desired = manifest(1, script(`echo started; sleep 30`, { timeout: "60s" }), {
      kind: "File",
      id: "conf",
      spec: { path: join(root, "app.conf"), content: "x" },
    });
    const controller = run(kinds(), 0, { concurrency: 1 });
    controller.apply(desired);
    // Resolves only when no reconcile holds the one worker; the script is still running.
    await controller.idle();
    const status = controller.status();
    expect(status.resources.conf?.state).toBe("Ready");
    expect(status.resources.s).toMatchObject({
      state: "Reconciling",
      generation: 1,
      details: { state: "running", pid: expect.any(Number) },
    });
    // Not observed until the script's outcome is known (ADR 003).
    expect(status.observedGeneration).toBe(0);
    const pid = Number((status.resources.s as { details?: { pid?: unknown } }).details?.pid);
    expect(running(pid)).toBe(true);

    const stopStarted = performance.now();
    controller.stop();
    expect(performance.now() - stopStarted).toBeLessThan(50);
    // Detached: the script outlives the controller, and the next one adopts it instead of starting it again.
    expect(running(pid)).toBe(true);
    const next = run(kinds(), 0, { concurrency: 1 });
    next.apply(desired);
    await next.idle();
    expect(next.status().resources.s).toMatchObject({
      state: "Reconciling",
      details: { state: "running", pid },
    });
    expect(await recordOf(state)).toMatchObject({ status: "running", pid });
    await until(
      () => readFile(join(state, "scripts", "s", "stdout"), "utf8"),
      (t) => t === "started\n",
      5_000,
      "the one execution's output",
    );
  });

  it("records the end of a long script when it comes, and only then observes the generation", async () => {
    const state = await scriptState();
    const out = await tempDir("out");
    const gate = join(out, "gate");
    const controller = run([scriptKind({ stateDir: state, allowed: true })], 100);
    controller.apply(
      manifest(
        1,
        script(
          `echo run >> ${out}/runs; until [ -e ${gate} ]; do sleep 0.05; done; echo released`,
          {
            timeout: "60s",
          },
        ),
      ),
    );
    await until(
      () => recordOf(state),
      (r) => r?.status === "running" && typeof r.pid === "number",
      5_000,
      "the script started",
    );
    await controller.idle();
    expect(controller.status()).toMatchObject({
      observedGeneration: 0,
      resources: { s: { state: "Reconciling", details: { state: "running" } } },
    });
    await writeFile(gate, "");
    const status = await until(
      () => controller.status(),
      (s) => s.resources.s?.state === "Ready",
      10_000,
      "the script's end recorded",
    );
    expect(status.resources.s).toMatchObject({ details: { exitCode: 0, stdout: "released\n" } });
    expect(status.observedGeneration).toBe(1);
    expect(await recordOf(state)).toMatchObject({ status: "succeeded", exitCode: 0 });
    expect(await runsIn(out)).toBe("run\n");
  });

  it("runs a script again that a host restart interrupted, records one that ended while no agent watched, and fails one killed while watched", async () => {
    const state = await scriptState();
    const out = await tempDir("out");
    const desired = manifest(1, script(`echo run >> ${out}/runs`));
    const first = run([scriptKind({ stateDir: state, allowed: true })]);
    first.apply(desired);
    await until(
      () => first.status().resources.s?.state,
      (s) => s === "Ready",
    );
    first.stop();
    const dir = join(state, "scripts", "s");
    const finished = await recordOf(state);
    const asIfRunning = JSON.stringify({ ...finished, status: "running" });

    // The agent died before recording the end, and the wrapper wrote the exit code: no rerun.
    await writeFile(join(dir, "record.json"), asIfRunning);
    const second = run([scriptKind({ stateDir: state, allowed: true })]);
    second.apply(desired);
    await until(
      () => second.status().resources.s?.state,
      (s) => s === "Ready",
    );
    second.stop();
    expect(await runsIn(out)).toBe("run\n");

    // The host went down mid-run: no process and no exit code, so it runs again.
    await writeFile(join(dir, "record.json"), asIfRunning);
    await rm(join(dir, "run.exit"));
    const third = run([scriptKind({ stateDir: state, allowed: true })]);
    third.apply(desired);
    await until(
      () => third.status().resources.s?.state,
      (s) => s === "Ready",
    );
    expect(await runsIn(out)).toBe("run\nrun\n");

    // Its supervising wrapper killed under the agent's eyes: failed, not run again.
    third.apply(manifest(2, script(`echo killed >> ${out}/runs; kill -9 $PPID; sleep 1`)));
    await until(
      () => third.status().resources.s,
      (s) => s?.state === "Failed",
      5_000,
      "the killed script failed",
    );
    expect(third.status().resources.s).toMatchObject({
      error: "script was killed before it finished (no exit code)",
    });
    expect(third.status().resources.s).not.toHaveProperty("retryAt");
    expect(await runsIn(out)).toBe("run\nrun\nkilled\n");
  });

  it("runs a new version only after the running one ended, and stops a running script whose resource is dropped", async () => {
    const state = await scriptState();
    const out = await tempDir("out");
    const gate = join(out, "gate");
    const controller = run([scriptKind({ stateDir: state, allowed: true })]);
    controller.apply(
      manifest(
        1,
        script(
          `echo v1 start >> ${out}/runs; until [ -e ${gate} ]; do sleep 0.05; done; echo v1 end >> ${out}/runs`,
        ),
      ),
    );
    await until(
      () => runsIn(out),
      (t) => t === "v1 start\n",
      5_000,
      "v1 started",
    );
    controller.apply(manifest(2, script(`echo v2 >> ${out}/runs`)));
    await until(
      () => controller.status().resources.s,
      (s) =>
        s?.state === "Reconciling" &&
        s.generation === 2 &&
        s.details?.state === "waiting for the previous execution to end",
      5_000,
      "v2 waiting for v1",
    );
    expect(await runsIn(out)).toBe("v1 start\n");
    await writeFile(gate, "");
    await until(
      () => controller.status().resources.s?.state,
      (s) => s === "Ready",
      10_000,
      "v2 ran",
    );
    expect(await runsIn(out)).toBe("v1 start\nv1 end\nv2\n");

    controller.apply(manifest(3, script(`echo $$ > ${out}/v3.pid; sleep 30`, { timeout: "60s" })));
    const v3 = Number(
      await until(
        () => readFile(join(out, "v3.pid"), "utf8").catch(() => ""),
        (t) => t.endsWith("\n"),
        5_000,
        "v3 started",
      ),
    );
    expect(running(v3)).toBe(true);
    controller.apply(manifest(4));
    await until(
      () => controller.status().observedGeneration,
      (g) => g === 4,
      5_000,
      "the drop observed",
    );
    await until(
      () => running(v3),
      (alive) => !alive,
      5_000,
      "the dropped script stopped",
    );
    await expect(stat(join(state, "scripts", "s"))).rejects.toThrow();
  });
});

describe("Machine kind", () => {
  const machineYaml = (version: string) =>
    `name: Probe\nversion: ${version}\ninitial_state: a\ntransitions:\n  - {name: go, from: [a], destination: b}\nwatchers:\n  - {name: w, type: exec, success_transition: go, properties: {command: check.sh}}\n`;

  it("installs a machine with its files, updates it in place keeping its data, and refuses an invalid one", async () => {
    const machines = await tempDir("machines");
    const controller = run([
      machineKind({ machinesDir: machines, allowExec: true, watchers: builtinWatchers() }),
    ]);
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

describe("Machine kind without remote exec", () => {
  it("refuses a machine whose watchers run commands, and accepts one that does not", async () => {
    const machines = await tempDir("machines");
    const controller = run([
      machineKind({ machinesDir: machines, allowExec: false, watchers: builtinWatchers() }),
    ]);
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
