import { chmod, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryKvStore } from "../../kv/memory-kv.js";
import { silentLogger } from "../../logging/logger.js";
import { tempDir, until } from "../../testing/helpers.js";
import { MachineData } from "../data-store.js";
import type { WatcherSpec } from "../spec.js";
import { renderTemplate } from "../template.js";
import { builtinWatchers } from "./builtin.js";
import { splitCommand } from "./command.js";
import { parseNagiosOutput } from "./nagios/index.js";
import { scheduleWindowEnd } from "./schedule/index.js";
import type { Watcher, WatcherContext, WatcherRun } from "./watcher.js";

const registry = builtinWatchers();
const made: Watcher[] = [];
afterEach(async () => {
  for (const w of made.splice(0)) await w.stop();
  vi.useRealTimers();
});

/** A watcher of `type` on a real directory, with reported runs collected. */
async function make(
  type: string,
  properties: Record<string, unknown>,
  options: { active?: boolean; kv?: MemoryKvStore; dir?: string } = {},
) {
  const directory = options.dir ?? (await tempDir("watcher"));
  const data = new MachineData(directory);
  const reports: WatcherRun[] = [];
  let active = options.active ?? true;
  const spec: WatcherSpec = { name: "w", type };
  const ctx: WatcherContext = {
    machine: { name: "M", version: "1.0.0", identity: "pi-7", instanceId: "i-1", directory },
    spec,
    data,
    facts: () => ({ os: "debian" }),
    render: (text) => renderTemplate(text, { data: data.all(), facts: { os: "debian" } }),
    kv: (bucket) => (bucket === "config" ? options.kv : undefined),
    log: silentLogger,
    report: (run) => reports.push(run),
    active: () => active,
  };
  const watcherType = registry.require(type);
  const watcher = watcherType.create(ctx, watcherType.properties.parse(properties));
  made.push(watcher);
  return {
    watcher,
    reports,
    data,
    directory,
    setActive: (a: boolean) => {
      active = a;
      watcher.activeChanged?.(a);
    },
  };
}

const signal = new AbortController().signal;

describe("exec watcher", () => {
  it("runs without a shell in the machine's directory, with Choria's environment", async () => {
    const dir = await tempDir("exec");
    await writeFile(
      join(dir, "env.sh"),
      '#!/bin/sh\necho "$MACHINE_NAME $MACHINE_WATCHER_NAME $(pwd) $GREETING $1" > out.txt\ncat "$WATCHER_DATA" >> out.txt\ncat "$WATCHER_FACTS" >> out.txt\n',
      { mode: 0o755 },
    );
    const { watcher, data } = await make(
      "exec",
      { command: "env.sh 'two words'", environment: ["GREETING=hello"] },
      { dir },
    );
    data.set("k", "v");
    expect(await watcher.run!(signal)).toMatchObject({
      outcome: "success",
      details: { exit_code: 0 },
    });
    expect((await readFile(join(dir, "out.txt"), "utf8")).split("\n")).toEqual([
      `M w ${dir} hello two words`,
      '{"k":"v"}{"os":"debian"}',
    ]);
  });

  it("does not pass the agent's own secrets to the command", async () => {
    process.env.EDGE_AGENT_NATS_TOKEN = "s3cret-token";
    try {
      const dir = await tempDir("exec");
      const { watcher } = await make("exec", { command: "sh -c 'env > env.txt'" }, { dir });
      expect((await watcher.run!(signal)).outcome).toBe("success");
      const env = await readFile(join(dir, "env.txt"), "utf8");
      expect(env).not.toContain("s3cret-token");
      expect(env).toMatch(/^PATH=.*/m);
      expect(env).toContain("MACHINE_NAME=M");
    } finally {
      delete process.env.EDGE_AGENT_NATS_TOKEN;
    }
  });

  it("fails on a non-zero exit, a missing command and a timeout", async () => {
    expect(await (await make("exec", { command: "false" })).watcher.run!(signal)).toMatchObject({
      outcome: "fail",
      details: { exit_code: 1 },
    });
    expect(
      await (await make("exec", { command: "no-such-command-here" })).watcher.run!(signal),
    ).toMatchObject({
      outcome: "fail",
      details: { error: "command not found: no-such-command-here" },
    });
    const started = Date.now();
    expect(
      await (await make("exec", { command: "sleep 5", timeout: "200ms" })).watcher.run!(signal),
    ).toMatchObject({
      outcome: "fail",
      details: { error: "timed out after 200 ms" },
    });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("refuses shell syntax instead of passing it to a shell", async () => {
    expect(() => splitCommand("echo hi | tee x")).toThrow("'|' is not allowed");
    expect(() => splitCommand("rm *.log")).toThrow("glob");
    expect(splitCommand(`./deploy.sh --name "my app" 'a b' c\\ d`)).toEqual([
      "./deploy.sh",
      "--name",
      "my app",
      "a b",
      "c d",
    ]);
    const { watcher } = await make("exec", { command: "echo a && touch /tmp/pwned" });
    expect(await watcher.run!(signal)).toMatchObject({
      outcome: "fail",
      details: { error: expect.stringContaining("'&&' is not allowed") },
    });
  });

  it("stores JSON output as machine data with parse_as_data", async () => {
    const { watcher, data } = await make("exec", {
      command: `echo '{"version": "1.2.3", "healthy": true}'`,
      parse_as_data: true,
    });
    expect((await watcher.run!(signal)).outcome).toBe("success");
    expect(data.all()).toEqual({ version: "1.2.3", healthy: true });
    const bad = await make("exec", { command: "echo not-json", parse_as_data: true });
    expect(await bad.watcher.run!(signal)).toMatchObject({
      outcome: "fail",
      details: { error: expect.stringContaining("parse_as_data") },
    });
  });
});

describe("nagios watcher", () => {
  it("maps exit codes to OK/WARNING/CRITICAL/UNKNOWN, fires on change, and keeps output and perfdata", async () => {
    const dir = await tempDir("nagios");
    const plugin = join(dir, "check.sh");
    const write = (code: number, text: string) =>
      writeFile(plugin, `#!/bin/sh\necho '${text}'\nexit ${code}\n`, { mode: 0o755 });
    const { watcher } = await make("nagios", { plugin: "check.sh" }, { dir });
    await write(0, "DISK OK - free space: / 3326 MB (56%) | /=2643MB;5948;5958;0;5968");
    const ok = await watcher.run!(signal);
    expect(ok).toMatchObject({
      outcome: "success",
      transition: "OK",
      details: { status: "OK", status_code: 0, output: "DISK OK - free space: / 3326 MB (56%)" },
    });
    expect(ok.details.perfdata).toEqual([
      { label: "/", value: 2643, unit: "MB", warning: "5948", critical: "5958", min: 0, max: 5968 },
    ]);
    expect((await watcher.run!(signal)).transition).toBeUndefined(); // still OK: nothing to fire
    await write(2, "DISK CRITICAL");
    expect(await watcher.run!(signal)).toMatchObject({ outcome: "fail", transition: "CRITICAL" });
    await write(1, "DISK WARNING");
    expect(await watcher.run!(signal)).toMatchObject({ transition: "WARNING" });
    await write(7, "weird");
    expect(await watcher.run!(signal)).toMatchObject({
      transition: "UNKNOWN",
      details: { status_code: 3 },
    });
  });

  it("parses quoted labels and several perfdata items", () => {
    expect(parseNagiosOutput("OK | 'load 1'=0.5;1;2 users=3\nlong text").perfdata).toEqual([
      { label: "load 1", value: 0.5, unit: "", warning: "1", critical: "2" },
      { label: "users", value: 3, unit: "" },
    ]);
  });
});

describe("file watcher", () => {
  it("fires success when the file changes and fail when it is missing", async () => {
    const { watcher, directory } = await make("file", { path: "manifest.json" });
    expect(await watcher.run!(signal)).toMatchObject({
      outcome: "fail",
      details: { error: "file does not exist" },
    });
    await writeFile(join(directory, "manifest.json"), "{}");
    expect((await watcher.run!(signal)).outcome).toBe("success");
    expect((await watcher.run!(signal)).outcome).toBe("unchanged");
    await writeFile(join(directory, "manifest.json"), '{"v": 2}');
    expect((await watcher.run!(signal)).outcome).toBe("success");
  });

  it("with gather_initial_state, takes the file at start as unchanged", async () => {
    const dir = await tempDir("file");
    await writeFile(join(dir, "f"), "x");
    const { watcher } = await make("file", { path: "f", gather_initial_state: true }, { dir });
    expect((await watcher.run!(signal)).outcome).toBe("unchanged");
  });

  it("manages contents and mode when asked, and repairs drift", async () => {
    const { watcher, directory } = await make("file", {
      path: "motd",
      contents: 'hello {{ lookup "facts.os" }}\n',
      mode: "0600",
    });
    expect(await watcher.run!(signal)).toMatchObject({
      outcome: "success",
      details: { managed: true },
    });
    expect(await readFile(join(directory, "motd"), "utf8")).toBe("hello debian\n");
    expect((await stat(join(directory, "motd"))).mode & 0o777).toBe(0o600);
    expect((await watcher.run!(signal)).outcome).toBe("unchanged");
    await chmod(join(directory, "motd"), 0o644);
    expect((await watcher.run!(signal)).outcome).toBe("success");
    await rm(join(directory, "motd"));
    expect((await watcher.run!(signal)).outcome).toBe("success");
  });
});

describe("timer watcher", () => {
  it("fires fail when it expires after becoming active, and not when left early", async () => {
    const { reports, setActive } = await make("timer", { timer: "100ms" }, { active: false });
    vi.useFakeTimers();
    setActive(true);
    await vi.advanceTimersByTimeAsync(99);
    expect(reports).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(reports).toEqual([{ outcome: "fail", details: { timer: "100ms" } }]);
    setActive(true);
    await vi.advanceTimersByTimeAsync(30);
    setActive(false);
    // Well past when the timer would have expired.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(reports).toHaveLength(1);
  });
});

describe("schedule watcher", () => {
  it("computes whether now is inside a cron window", () => {
    const at = (iso: string) => new Date(iso);
    expect(scheduleWindowEnd(["0 * * * *"], 10 * 60_000, at("2026-01-01T10:05:00Z"))).toBe(
      at("2026-01-01T10:10:00Z").getTime(),
    );
    expect(
      scheduleWindowEnd(["0 * * * *"], 10 * 60_000, at("2026-01-01T10:15:00Z")),
    ).toBeUndefined();
    expect(
      scheduleWindowEnd(["0 * * * *", "12 * * * *"], 10 * 60_000, at("2026-01-01T10:15:00Z")),
    ).toBe(at("2026-01-01T10:22:00Z").getTime());
  });

  it("turns on at each cron time and off after the duration", async () => {
    // Every 2 seconds, on for 1 second.
    const { reports, setActive } = await make(
      "schedule",
      { schedules: ["*/2 * * * * *"], duration: "1s" },
      { active: false },
    );
    setActive(true);
    await until(
      () => reports.map((r) => r.outcome).join(","),
      (s) => /success,fail/.test(s),
      6_000,
    );
    const outcomes = reports.map((r) => r.outcome);
    const i = outcomes.indexOf("success");
    expect(outcomes.slice(i, i + 2)).toEqual(["success", "fail"]);
  });
});

describe("kv watcher", () => {
  it("stores the current value, then each change, in machine data; a delete fires fail", async () => {
    const kv = new MemoryKvStore();
    await kv.put("app.version", new TextEncoder().encode('{"image":"web:1"}'));
    const { reports, data } = await make(
      "kv",
      { bucket: "config", key: "app.version", data_key: "app" },
      { kv },
    );
    await until(
      () => reports.length,
      (n) => n === 1,
    );
    expect(data.get("app")).toEqual({ image: "web:1" });
    await kv.put("app.version", new TextEncoder().encode("plain"));
    await until(
      () => data.get("app"),
      (v) => v === "plain",
    );
    await kv.delete("app.version");
    await until(
      () => reports.length,
      (n) => n === 3,
    );
    expect(reports.map((r) => r.outcome)).toEqual(["success", "success", "fail"]);
    expect(data.get("app")).toBeUndefined();
  });

  it("names the data key as Choria does: BUCKET_key by default, the key without bucket_prefix, or store_key", async () => {
    const kv = new MemoryKvStore();
    await kv.put("machine", new TextEncoder().encode('{"source":"https://x/m.tgz"}'));
    const stored = async (properties: Record<string, unknown>) => {
      const { reports, data } = await make("kv", { bucket: "config", ...properties }, { kv });
      await until(
        () => reports.length,
        (n) => n === 1,
      );
      return Object.keys(data.all());
    };
    expect(await stored({ key: "machine" })).toEqual(["config_machine"]);
    expect(await stored({ key: "machine", mode: "poll", bucket_prefix: false })).toEqual([
      "machine",
    ]);
    expect(await stored({ key: "machine", store_key: "spec" })).toEqual(["config_spec"]);
  });

  it("reports an error when the bucket is not available", async () => {
    const { reports } = await make("kv", { bucket: "nope", key: "k" });
    await until(
      () => reports.length,
      (n) => n === 1,
    );
    expect(reports[0]).toMatchObject({
      outcome: "error",
      details: { error: "no KV bucket 'nope' is available to this agent" },
    });
  });
});

describe("expression watcher", () => {
  it("fires success or fail from CEL over machine data, on change only", async () => {
    const { watcher, data } = await make("expression", {
      success_when: "data.replicas >= 3",
      fail_when: "data.replicas == 0",
    });
    data.set("replicas", 1);
    expect((await watcher.run!(signal)).outcome).toBe("unchanged");
    data.set("replicas", 3);
    expect((await watcher.run!(signal)).outcome).toBe("success");
    expect((await watcher.run!(signal)).outcome).toBe("unchanged");
    data.set("replicas", 0);
    expect((await watcher.run!(signal)).outcome).toBe("fail");
  });

  it("reports evaluation errors (a missing key) as errors, firing nothing", async () => {
    const { watcher } = await make("expression", { success_when: "data.missing > 1" });
    expect(await watcher.run!(signal)).toMatchObject({
      outcome: "error",
      details: { error: expect.stringContaining("missing") },
    });
  });
});
