import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryEventBus } from "../bus/memory-bus.js";
import { recordEvents, tempDir, until, writeMachineDir } from "../testing/helpers.js";
import { watcherStateEvent } from "./events.js";
import { DELIVERED_MACHINE_FILE, machineLoadFailedEvent, MachineManager } from "./manager.js";
import { builtinWatchers } from "./watchers/builtin.js";

const managers: MachineManager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
});

function manage(directory: string, bus = new MemoryEventBus()) {
  const manager = new MachineManager({
    directory,
    identity: "pi-7",
    registry: builtinWatchers(),
    bus,
    scanIntervalMs: 100,
    splayMs: 0,
  });
  managers.push(manager);
  return manager;
}

/** A machine that goes from `waiting` to `ready` once its script exits 0. */
const machine = (name: string, script = "ok.sh") => `name: ${name}
version: 1.0.0
initial_state: waiting
transitions:
  - {name: up, from: [waiting], destination: ready}
watchers:
  - {name: probe, type: exec, state_match: [waiting], success_transition: up, interval: 100ms, properties: {command: ${script}}}
`;
const ok = { "ok.sh": "#!/bin/sh\nexit 0\n" };
/** A Database machine that becomes ready (fires `up`) once `<root>/db/.flag` exists; a dot file, so creating it does not reload the machine. */
const gatedDatabase = (root: string) =>
  writeMachineDir(join(root, "db"), machine("Database", "flag.sh"), {
    "flag.sh": "#!/bin/sh\ntest -f .flag\n",
  });
/**
 * Waits until the gated Database has run its probe `n` times without the flag. Machines start
 * in directory order, so one in `app/` started before Database's first run, and the runs come
 * at least 100 ms apart: anything `app/` did on its own at start has been reported by then.
 */
async function databaseProbeFailed(bus: MemoryEventBus, n: number) {
  const runs = recordEvents(bus, "choria.machine.pi-7.Database.watcher.exec.probe");
  await until(
    () => runs.events.length,
    (count) => count >= n,
    10_000,
    `${n} Database probe runs`,
  );
  runs.stop();
  expect(
    runs.events.map((e) => watcherStateEvent("exec").parse(e.event).data.previous_outcome),
  ).toEqual(Array(runs.events.length).fill("fail"));
}
const names = (m: MachineManager) =>
  m
    .machines()
    .map((r) => r.name)
    .sort();

describe("MachineManager", () => {
  it("starts new machines, stops removed ones, and skips tmp, dot and -temp directories", async () => {
    const root = await tempDir("machines");
    await writeMachineDir(join(root, "a"), machine("A"), ok);
    await writeMachineDir(join(root, "tmp"), machine("Tmp"), ok);
    await writeMachineDir(join(root, ".hidden"), machine("Hidden"), ok);
    await writeMachineDir(join(root, "b-temp"), machine("Temp"), ok);
    await mkdir(join(root, "no-machine-yaml"));
    const manager = manage(root);
    await manager.start();
    expect(names(manager)).toEqual(["A"]);
    await until(
      () => manager.state("A"),
      (s) => s === "ready",
    );

    await writeMachineDir(join(root, "b"), machine("B"), ok);
    await until(
      () => names(manager),
      (n) => n.join() === "A,B",
    );
    await rm(join(root, "a"), { recursive: true });
    await until(
      () => names(manager),
      (n) => n.join() === "B",
    );
  });

  it("restarts a machine when any file in its directory changes, not when its data does", async () => {
    const root = await tempDir("machines");
    await writeMachineDir(join(root, "a"), machine("A"), ok);
    const manager = manage(root);
    await manager.start();
    const first = manager.machines()[0]!;
    await until(
      () => first.state,
      (s) => s === "ready",
    );
    first.data.set("written", true); // the data store is a dot file: no reload
    await first.data.flush();
    await manager.scan();
    expect(manager.machines()[0]).toBe(first);

    await writeFile(join(root, "a", "ok.sh"), "#!/bin/sh\n# changed script\nexit 0\n");
    await until(
      () => manager.machines()[0],
      (m) => m !== first,
    );
    expect(manager.machines()[0]?.instanceId).not.toBe(first.instanceId);
  });

  it("reports a broken machine without stopping the others, and keeps the old version on a broken update", async () => {
    const root = await tempDir("machines");
    const bus = new MemoryEventBus();
    const failures = recordEvents(bus, "choria.machine.pi-7.*.load_failed");
    await writeMachineDir(join(root, "good"), machine("Good"), ok);
    await writeMachineDir(
      join(root, "bad"),
      machine("Bad").replace("success_transition: up", "success_transition: upp"),
      ok,
    );
    const manager = manage(root, bus);
    await manager.start();
    expect(names(manager)).toEqual(["Good"]);
    const bad = manager.status().find((s) => s.directory.endsWith("bad"));
    expect(bad?.error).toContain("invalid success_transition upp specified in watcher probe");
    await until(
      () => failures.events.length,
      (n) => n === 1,
    );
    expect(machineLoadFailedEvent.parse(failures.events[0]!.event).data).toMatchObject({
      running_previous: false,
    });

    await writeFile(join(root, "good", "machine.yaml"), "name: Good\nversion: [broken");
    await until(
      () => manager.status().find((s) => s.directory.endsWith("good"))?.error,
      (e) => e !== undefined,
    );
    expect(names(manager)).toEqual(["Good"]);
  });

  it("loads 200 machines from a directory", async () => {
    const root = await tempDir("machines");
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        writeMachineDir(join(root, `m${i}`), machine(`M${i}`), ok),
      ),
    );
    const manager = manage(root);
    await manager.start();
    expect(manager.machines()).toHaveLength(200);
    await until(
      () => manager.machines().filter((m) => m.state === "ready").length,
      (n) => n === 200,
      30_000,
      "200 machines ready",
    );
  }, 60_000);

  it("runs a watcher only while another machine is in the required state", async () => {
    const root = await tempDir("machines");
    await gatedDatabase(root);
    await writeMachineDir(
      join(root, "app"),
      `name: App
version: 1.0.0
initial_state: waiting
transitions:
  - {name: start, from: [waiting], destination: running}
watchers:
  - name: launch
    type: exec
    state_match: [waiting]
    foreign_state_required: [{machine_name: Database, state: ready}]
    success_transition: start
    interval: 100ms
    properties: {command: ok.sh}
`,
      ok,
    );
    const bus = new MemoryEventBus();
    const appEvents = recordEvents(bus, "choria.machine.pi-7.App.>");
    const manager = manage(root, bus);
    const probed = databaseProbeFailed(bus, 3);
    await manager.start();
    await probed;
    expect([manager.state("Database"), manager.state("App")]).toEqual(["waiting", "waiting"]);
    expect(appEvents.events).toEqual([]); // App's watcher never ran
    await writeFile(join(root, "db", ".flag"), "");
    await until(
      () => manager.state("App"),
      (s) => s === "running",
    );
    expect(manager.state("Database")).toBe("ready");
  });

  it("never runs a delivered machine that runs commands unless remote commands are allowed; machines placed by hand are not affected", async () => {
    const root = await tempDir("machines");
    const touched = join(root, "touched");
    // Directories load in name order: the delivered machine starts before the gated Database.
    await writeMachineDir(join(root, "a-delivered"), machine("Delivered", `touch ${touched}`));
    await writeFile(join(root, "a-delivered", DELIVERED_MACHINE_FILE), "{}");
    await gatedDatabase(root); // placed by hand, runs commands: the witness
    const bus = new MemoryEventBus();
    const refusals = recordEvents(bus, "choria.machine.pi-7.a-delivered.load_failed");
    const manager = manage(root, bus);
    const probed = databaseProbeFailed(bus, 3);
    await manager.start();
    // Database's probe ran three times, 100 ms apart: Delivered's first run would be long over.
    await probed;
    await expect(stat(touched)).rejects.toMatchObject({ code: "ENOENT" });
    expect(names(manager)).toEqual(["Database"]);
    const why =
      /machine Delivered in .*a-delivered was delivered by a manifest .* runs commands \(probe \(exec\)\), and remote exec is disabled on this host: not started\. To run it, allow remote exec \(edge agent: scripts\.allowed: true\)/;
    expect(manager.status().find((s) => s.directory.endsWith("a-delivered"))?.error).toMatch(why);
    expect(refusals.events).toHaveLength(1);
    const refusal = machineLoadFailedEvent.parse(refusals.events[0]!.event).data;
    expect(refusal.error).toMatch(why);
    expect(refusal.running_previous).toBe(false);

    // The same directory where remote commands are allowed: the delivered machine runs.
    await manager.stop();
    const allowing = new MachineManager({
      directory: root,
      identity: "pi-7",
      registry: builtinWatchers(),
      scanIntervalMs: 100,
      splayMs: 0,
      remoteCommands: true,
    });
    managers.push(allowing);
    await allowing.start();
    await until(
      () =>
        stat(touched).then(
          () => true,
          () => false,
        ),
      (found) => found,
      10_000,
      "the delivered machine's command to run where remote commands are allowed",
    );
  });

  it("stops a running machine whose update is refused: the previous version does not keep running", async () => {
    const root = await tempDir("machines");
    const harmless = `name: Delivered
version: 1.0.0
initial_state: waiting
transitions:
  - {name: up, from: [waiting], destination: ready}
watchers:
  - {name: wait, type: timer, state_match: [waiting], fail_transition: up, properties: {timer: 1h}}
`;
    await writeMachineDir(join(root, "delivered"), harmless);
    await writeFile(join(root, "delivered", DELIVERED_MACHINE_FILE), "{}");
    const bus = new MemoryEventBus();
    const refusals = recordEvents(bus, "choria.machine.pi-7.delivered.load_failed");
    const manager = manage(root, bus);
    await manager.start();
    expect(names(manager)).toEqual(["Delivered"]);

    await writeFile(join(root, "delivered", "machine.yaml"), machine("Delivered"));
    await until(
      () => refusals.events.length,
      (n) => n === 1,
      10_000,
      "the refused update",
    );
    expect(names(manager)).toEqual([]);
    expect(machineLoadFailedEvent.parse(refusals.events[0]!.event).data).toMatchObject({
      running_previous: false,
      error: expect.stringContaining("remote exec is disabled"),
    });
  });

  it("fires a transition subscribed to another machine's event (Choria's machine_name)", async () => {
    const root = await tempDir("machines");
    await gatedDatabase(root);
    await writeMachineDir(
      join(root, "app"),
      `name: App
version: 1.0.0
initial_state: waiting
transitions:
  - {name: db_up, from: [waiting], destination: notified, subscribe: [{machine_name: Database, event: up}]}
watchers:
  - {name: idle, type: timer, state_match: [notified], properties: {timer: 1h}}
`,
    );
    const bus = new MemoryEventBus();
    const appEvents = recordEvents(bus, "choria.machine.pi-7.App.>");
    const manager = manage(root, bus);
    const probed = databaseProbeFailed(bus, 3);
    await manager.start();
    await probed;
    expect(manager.state("App")).toBe("waiting");
    expect(appEvents.events).toEqual([]); // neither a transition nor an ignored one
    await writeFile(join(root, "db", ".flag"), "");
    await until(
      () => manager.state("App"),
      (s) => s === "notified",
    );
  });
});
