import { cp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connectNats, NatsEventBus } from "@org/transport-nats";
import { shouldRunNatsTests, TestNatsServer } from "@org/transport-nats/testing";
import {
  createLogger,
  machineLoadFailedEvent,
  machineTransitionEvent,
  watcherStateEvent,
} from "@org/reconcile-core";
import { recordEvents, tempDir, until, writeMachineDir } from "@org/reconcile-core/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EdgeAgent } from "../src/agent.js";
import { AgentConfigSchema } from "../src/config.js";
import { Cli } from "./cli.js";

const example = new URL("../../../examples/machines/container-manager/", import.meta.url).pathname;

/** Flips between off and on every 200 ms, forever: a steady stream of transitions. */
const blinker = `name: Blinker
version: 1.0.0
initial_state: off
transitions:
  - {name: turn_on, from: ["off"], destination: "on"}
  - {name: turn_off, from: ["on"], destination: "off"}
watchers:
  - {name: on_timer, type: timer, state_match: ["off"], fail_transition: turn_on, properties: {timer: 200ms}}
  - {name: off_timer, type: timer, state_match: ["on"], fail_transition: turn_off, properties: {timer: 200ms}}
`;

describe("edge-agent machine validate", () => {
  it("accepts the example and exits 0", async () => {
    const { code, stdout } = await Cli.run(["machine", "validate", example]);
    expect(code).toBe(0);
    expect(stdout[0]).toMatch(
      /: ok \(ContainerManager 1\.0\.0: 3 states, 4 transitions, 3 watchers\)$/,
    );
  });

  it("exits 1 naming every problem of every invalid file", async () => {
    const dir = await tempDir("validate");
    const yaml = await readFile(join(example, "machine.yaml"), "utf8");
    await writeFile(
      join(dir, "typo.yaml"),
      yaml.replace("success_transition: deployed", "success_transition: deployd"),
    );
    await writeFile(
      join(dir, "state.yaml"),
      yaml.replace("fail_transition: deploy_failed", "fail_transition: deploy"),
    );
    const { code, stdout } = await Cli.run([
      "machine",
      "validate",
      join(dir, "typo.yaml"),
      join(dir, "state.yaml"),
      example,
    ]);
    expect(code).toBe(1);
    expect(stdout).toContain("  - invalid success_transition deployd specified in watcher deploy");
    expect(stdout).toContain("  - invalid fail_transition deploy specified in watcher deploy");
    expect(stdout.at(-1)).toMatch(/: ok /);
  });
});

describe("edge-agent machine run", () => {
  it("runs a machine with no middleware, prints CloudEvents with --json, and stops cleanly on Ctrl-C", async () => {
    const dir = await tempDir("run");
    await cp(example, dir, { recursive: true });
    const cli = Cli.start(["machine", "run", dir, "--json", "--identity", "pi-7"]);
    const line = await cli.line(/"to_state":"monitor"/);
    const event = machineTransitionEvent.parse(JSON.parse(line));
    expect(event.data).toMatchObject({
      identity: "pi-7",
      machine: "ContainerManager",
      transition: "deployed",
      from_state: "deploy",
    });
    expect(await cli.stop("SIGINT")).toBe(0);
  });

  it("prints human lines for a directory of machines", async () => {
    const root = await tempDir("run-dir");
    await cp(example, join(root, "cm"), { recursive: true });
    await writeMachineDir(join(root, "blink"), blinker);
    const cli = Cli.start(["machine", "run", root, "--identity", "pi-7"]);
    await cli.line(/^pi-7 ContainerManager transitioned via event absent: unknown => deploy$/);
    await cli.line(
      /^pi-7 ContainerManager#deploy command: \.\/deploy\.sh, previous: success ran: \d+\.\d{3}s$/,
    );
    await cli.line(/^pi-7 Blinker transitioned via event turn_on: off => on$/);
    expect(await cli.stop("SIGTERM")).toBe(0);
  });
});

describe("edge-agent config", () => {
  it("--print-config resolves file < environment < flags and masks secrets", async () => {
    const dir = await tempDir("config");
    await writeFile(
      join(dir, "agent.yaml"),
      "id: from-file\nnats: {servers: nats://file:4222, token: s3cr3t-token}\nmachinesDir: /srv/machines\n",
    );
    const { code, stdout } = await Cli.run(
      ["run", "--config", join(dir, "agent.yaml"), "--id", "pi-9", "--print-config"],
      {
        EDGE_AGENT_MACHINES_DIR: "/env/machines",
        EDGE_AGENT_NATS_URL: "nats://env:4222",
      },
    );
    expect(code).toBe(0);
    const printed = JSON.parse(stdout.join("\n"));
    expect(printed).toMatchObject({
      id: "pi-9",
      machinesDir: "/env/machines",
      nats: { servers: "nats://env:4222", token: "********" },
    });
    expect(stdout.join("\n")).not.toContain("s3cr3t-token");
  });

  it("refuses an invalid config with the field named, exit 2", async () => {
    const dir = await tempDir("config");
    await writeFile(join(dir, "agent.yaml"), "id: 'bad id!'\nmachinesDirr: /x\n");
    const { code, stderr } = await Cli.run(["run", "--config", join(dir, "agent.yaml")]);
    expect(code).toBe(2);
    expect(stderr.join("\n")).toMatch(/invalid agent config .*id: agent ids use letters/);
    expect(stderr.join("\n")).toMatch(/machinesDirr/);
  });
});

describe.runIf(shouldRunNatsTests())("edge-agent with NATS (real nats-server)", () => {
  let server: TestNatsServer;
  beforeAll(async () => {
    server = await TestNatsServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("publishes machine events to NATS, `machine watch` shows them, and a NATS restart loses no transition", async () => {
    const root = await tempDir("agent");
    await writeMachineDir(join(root, "machines", "blink"), blinker);
    // The agent reconnects more slowly than the watchers, so they are listening when it flushes its buffer.
    await writeFile(
      join(root, "agent.yaml"),
      `id: pi-7\nnats: {servers: "${server.url}", reconnectWaitMs: 3000}\nmachinesDir: ${join(root, "machines")}\nstateDir: ${root}\n`,
    );

    const nc = await connectNats({ servers: server.url, reconnectWaitMs: 100 });
    const bus = new NatsEventBus().attach(nc);
    const seen: Array<{ from: string; to: string }> = [];
    bus.subscribe("choria.machine.pi-7.Blinker.transition", (e) => {
      const d = machineTransitionEvent.parse(e).data;
      seen.push({ from: d.from_state, to: d.to_state });
    });
    await nc.flush();

    const watch = Cli.start(["machine", "watch", "--nats", server.url, "--machine", "Blinker"]);
    await until(
      () => watch.stderr.join(),
      (s) => s.includes("watching"),
      20_000,
      "machine watch to subscribe",
    );
    const agent = Cli.start(["run", "--config", join(root, "agent.yaml")]);
    try {
      await watch.line(/^pi-7 Blinker transitioned via event turn_on: off => on$/);
      await until(
        () => seen.length,
        (n) => n >= 3,
        20_000,
        "transitions over NATS",
      );

      await server.pause();
      const before = seen.length;
      await new Promise((r) => setTimeout(r, 3_000)); // the machine keeps blinking offline
      await server.resume();
      await until(
        () => seen.length,
        (n) => n >= before + 15,
        30_000,
        "buffered transitions after the restart",
      );

      // No gap: every transition starts where the previous one ended.
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]!.from, `transition ${i}`).toBe(seen[i - 1]!.to);
      // The CLI watch resumed too.
      const linesBefore = watch.stdout.length;
      await until(
        () => watch.stdout.length,
        (n) => n > linesBefore + 2,
        20_000,
        "machine watch resuming",
      );
    } finally {
      expect(await agent.stop("SIGTERM")).toBe(0);
      expect(await watch.stop("SIGINT")).toBe(0);
      await bus.close();
      await nc.close();
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("edge agent: what scripts.allowed forbids never runs", () => {
  const agents: EdgeAgent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
  });
  const startAgent = async (dir: string, scriptsAllowed: boolean) => {
    const config = AgentConfigSchema.parse({
      id: "pi-test",
      source: { type: "file", path: join(dir, "manifest.json") },
      stateDir: join(dir, "state"),
      machinesDir: join(dir, "machines"),
      systemd: { unitDir: join(dir, "units"), systemctl: "/bin/false" },
      docker: { enabled: false },
      scripts: { allowed: scriptsAllowed },
      statusInterval: "50ms",
      logLevel: "silent",
    });
    const agent = await EdgeAgent.create(config, createLogger("test", { level: "silent" }));
    agents.push(agent);
    // Recorded from before the start: the machine manager loads its directory in start().
    const refusals = recordEvents(agent.bus, "choria.machine.pi-test.toucher.load_failed");
    const witnessRuns = recordEvents(
      agent.bus,
      "choria.machine.pi-test.Witness.watcher.exec.probe",
    );
    await agent.start();
    return { agent, refusals, witnessRuns };
  };
  /** A machine whose exec watcher touches `path` as soon as it starts. */
  const toucher = (path: string) => `name: Toucher
version: 1.0.0
initial_state: waiting
transitions:
  - {name: touched, from: [waiting], destination: done}
watchers:
  - {name: touch, type: exec, state_match: [waiting], success_transition: touched, properties: {command: touch ${path}}}
`;
  /** Placed by hand and runs commands: its probe fails every 100 ms, forever. */
  const witness = `name: Witness
version: 1.0.0
initial_state: waiting
transitions:
  - {name: up, from: [waiting], destination: ready}
watchers:
  - {name: probe, type: exec, state_match: [waiting], success_transition: up, interval: 100ms, properties: {command: flag.sh}}
`;
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );

  it("a Machine staged while scripts were allowed does not run after a restart with scripts.allowed=false; its status and the refusal say why", async () => {
    const dir = await tempDir("staged-machine");
    const touched = join(dir, "touched");
    await writeFile(
      join(dir, "manifest.json"),
      JSON.stringify({
        generation: 1,
        resources: [{ kind: "Machine", id: "toucher", spec: { machine: toucher(touched) } }],
      }),
    );
    // Loaded after machines/toucher (directories load in name order).
    await writeMachineDir(join(dir, "machines", "witness"), witness, {
      "flag.sh": "#!/bin/sh\ntest -f .flag\n",
    });

    const allowed = await startAgent(dir, true);
    await until(
      () => exists(touched),
      (found) => found,
      15_000,
      "the delivered machine's command to run while scripts are allowed",
    );
    expect(allowed.agent.status().resources.toucher?.state).toBe("Ready");
    await allowed.agent.stop();
    agents.splice(0);
    await rm(touched);

    const refused = await startAgent(dir, false);
    // The witness, loaded after Toucher, ran its probe three times 100 ms apart: Toucher's
    // command, had it started, would have run long before.
    await until(
      () => refused.witnessRuns.events.length,
      (n) => n >= 3,
      15_000,
      "three runs of the witness's probe",
    );
    expect(
      refused.witnessRuns.events.map(
        (e) => watcherStateEvent("exec").parse(e.event).data.previous_outcome,
      ),
    ).toContain("fail");
    expect(await exists(touched)).toBe(false);
    expect(refused.agent.manager.state("Toucher")).toBeUndefined();

    expect(refused.refusals.events).toHaveLength(1);
    expect(machineLoadFailedEvent.parse(refused.refusals.events[0]!.event).data).toMatchObject({
      directory: join(dir, "machines", "toucher"),
      running_previous: false,
      error: expect.stringMatching(
        /machine Toucher .* was delivered by a manifest .* runs commands \(touch \(exec\)\), and remote exec is disabled on this host: not started\. To run it, allow remote exec \(edge agent: scripts\.allowed: true\)/,
      ),
    });
    const status = await until(
      () => refused.agent.status().resources.toucher,
      (s) => s?.state === "Failed",
      15_000,
      "the Machine resource refused",
    );
    expect(status).toMatchObject({
      state: "Failed",
      error: expect.stringMatching(
        /machine Toucher runs commands \(touch \(exec\)\), and remote exec is disabled on this agent \(scripts\.allowed\)$/,
      ),
    });
    expect(await exists(touched)).toBe(false);
  }, 60_000);

  it("marks a copy installed by an agent that did not mark its machines, so it is refused from its next load", async () => {
    const dir = await tempDir("unmarked-machine");
    const touched = join(dir, "touched");
    await writeFile(
      join(dir, "manifest.json"),
      JSON.stringify({
        generation: 1,
        resources: [{ kind: "Machine", id: "toucher", spec: { machine: toucher(touched) } }],
      }),
    );
    // What an older agent left: the resource's machine, without the delivered marker.
    await writeMachineDir(join(dir, "machines", "toucher"), toucher(touched));
    await writeMachineDir(join(dir, "machines", "witness"), witness, {
      "flag.sh": "#!/bin/sh\ntest -f .flag\n",
    });
    const first = await startAgent(dir, false);
    await until(
      () => first.agent.status().resources.toucher?.state,
      (s) => s === "Failed",
      15_000,
      "the Machine resource refused",
    );
    expect(await exists(join(dir, "machines", "toucher", ".delivered.json"))).toBe(true);
    await first.agent.stop();
    agents.splice(0);
    await rm(touched, { force: true });

    const next = await startAgent(dir, false);
    await until(
      () => next.witnessRuns.events.length,
      (n) => n >= 3,
      15_000,
      "three runs of the witness's probe",
    );
    expect(await exists(touched)).toBe(false);
    expect(next.refusals.events).toHaveLength(1);
  }, 60_000);
});
