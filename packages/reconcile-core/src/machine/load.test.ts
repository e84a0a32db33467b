import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadMachineFile, loadMachineText } from "./load.js";
import { splitCommand } from "./watchers/command.js";
import { builtinWatchers } from "./watchers/builtin.js";

const registry = builtinWatchers();
const example = new URL(
  "../../../../examples/machines/container-manager/machine.yaml",
  import.meta.url,
).pathname;

async function exampleWith(edit: (yaml: string) => string) {
  return loadMachineText(edit(await readFile(example, "utf8")), registry, "test.yaml");
}

function problems(result: ReturnType<typeof loadMachineText>): string[] {
  if (result.ok) throw new Error("expected the machine to be refused");
  return result.error.problems;
}

describe("loading machine.yaml", () => {
  it("accepts the ContainerManager example, inferring its states", async () => {
    const result = await loadMachineFile(example, registry);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect([...result.definition.states].sort()).toEqual(["deploy", "monitor", "unknown"]);
      expect(result.definition.watchers.map((w) => w.spec.name)).toEqual([
        "manifest",
        "deploy",
        "check_running",
      ]);
    }
  });

  it("refuses a watcher that names a state where a transition is expected, as Choria does", async () => {
    const result = await exampleWith((y) =>
      y.replace("fail_transition: deploy_failed", "fail_transition: deploy"),
    );
    expect(problems(result)).toEqual([
      "invalid fail_transition deploy specified in watcher deploy",
    ]);
    if (!result.ok)
      expect(result.error.message).toContain("machine ContainerManager (test.yaml) is invalid");
  });

  it("refuses a typo in a transition name, naming it and the watcher", async () => {
    const result = await exampleWith((y) =>
      y.replace("success_transition: deployed", "success_transition: deployd"),
    );
    expect(problems(result)).toEqual([
      "invalid success_transition deployd specified in watcher deploy",
    ]);
  });

  it("refuses an unknown state in state_match", async () => {
    const result = await exampleWith((y) =>
      y.replace("state_match: [monitor]", "state_match: [monitoring]"),
    );
    expect(problems(result)).toEqual([
      "invalid state monitoring in state match for watcher check_running",
    ]);
  });

  it("ignores unknown keys at every level as Choria does, warning about each with where it is and what was meant", () => {
    const result = loadMachineText(
      `name: Keys
version: 1.0.0
initial_state: a
owner: ops
transitions:
  - name: go
    from: [a]
    destination: b
    descripton: typo
    subscribe: [{machine_name: Db, event: up, note: x}]
watchers:
  - name: w
    type: exec
    state_matchin: [b]
    foreign_state_required: [{machine_name: Db, state: up, sate: x}]
    properties: {command: ./check.sh, timout: 5s}
`,
      registry,
      "keys.yaml",
    );
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([
      "unknown key 'owner' in the machine's top level is ignored, as Choria ignores it: remove it",
      "unknown key 'descripton' in transitions[0] (transition go) is ignored, as Choria ignores it: did you mean 'description'?",
      "unknown key 'note' in transitions[0].subscribe[0] (transition go) is ignored, as Choria ignores it: remove it",
      "unknown key 'state_matchin' in watchers[0] (watcher w) is ignored, as Choria ignores it: did you mean 'state_match'?",
      "unknown key 'sate' in watchers[0].foreign_state_required[0] (watcher w) is ignored, as Choria ignores it: did you mean 'state'?",
      "unknown key 'timout' in watchers[0].properties (exec watcher w) is ignored, as Choria ignores it: did you mean 'timeout'?",
    ]);
    // Ignored means ignored: the misspelt state_match leaves the watcher running in every state.
    if (result.ok) {
      expect(result.definition.watchers[0]!.spec.state_match).toBeUndefined();
      expect(result.definition.watchers[0]!.properties).toMatchObject({ timeout: "10s" });
    }
  });

  it("ignores Choria properties this agent does not implement, and reads properties in any case as mapstructure does", async () => {
    const result = await exampleWith((y) =>
      y
        .replace("command: ./deploy.sh", "Command: ./deploy.sh\n      governor: DEPLOY")
        .replace("path: manifest.json", "path: manifest.json\n      owner: root"),
    );
    expect(result.ok).toBe(true);
    expect(result.warnings).toEqual([
      "'owner' in watchers[0].properties (file watcher manifest) is a Choria property this agent does not implement; it is ignored",
      "'Command' in watchers[1].properties (exec watcher deploy) is read as 'command' (Choria matches property names in any case): write 'command'",
      "'governor' in watchers[1].properties (exec watcher deploy) is a Choria property this agent does not implement; it is ignored",
    ]);
    if (result.ok)
      expect(result.definition.watchers[1]!.properties).toMatchObject({ command: "./deploy.sh" });
  });

  it("refuses an unknown watcher type and invalid properties, naming the watcher", async () => {
    const unknown = await exampleWith((y) => y.replace("type: file", "type: fiel"));
    expect(problems(unknown)[0]).toMatch(
      /^unknown watcher 'fiel' in watcher manifest; known types: archive, exec, expression, file/,
    );
    const badProps = await exampleWith((y) =>
      y.replace("command: ./deploy.sh", "comand: ./deploy.sh"),
    );
    expect(problems(badProps)[0]).toMatch(/^invalid properties for exec watcher deploy: /);
    const badDuration = await exampleWith((y) => y.replace("interval: 1m", "interval: 1 minute"));
    expect(problems(badDuration)[0]).toMatch(/watchers\[1\]\.interval: not a duration/);
  });

  it("refuses an announce interval under a minute, as Choria does", async () => {
    const result = await exampleWith((y) =>
      y.replace("    interval: 30s", "    interval: 30s\n    announce_interval: 30s"),
    );
    expect(problems(result)).toEqual([
      "announce interval 30s is too small for watcher check_running",
    ]);
  });

  it("refuses bad templates and expressions at load time", async () => {
    const template = await exampleWith((y) =>
      y.replace("command: ./deploy.sh", "command: ./deploy.sh {{ .Data.x }}"),
    );
    expect(problems(template)[0]).toContain(
      "invalid template in watcher deploy: unsupported template expression",
    );
    const expression = loadMachineText(
      "name: E\nversion: 1.0.0\ninitial_state: a\ntransitions: [{name: go, from: [a], destination: b}]\nwatchers:\n  - {name: x, type: expression, success_transition: go, properties: {success_when: 'data.x >'}}\n",
      registry,
    );
    expect(problems(expression)[0]).toMatch(/^invalid expression in watcher x: /);
  });

  it("requires a SemVer version and reports YAML syntax errors", () => {
    expect(
      problems(
        loadMachineText(
          "name: A\nversion: one\ninitial_state: a\ntransitions: [{name: t, from: [a], destination: b}]\nwatchers: [{name: w, type: timer, properties: {timer: 1m}}]\n",
          registry,
        ),
      )[0],
    ).toContain("version must be SemVer");
    expect(problems(loadMachineText("name: [", registry))[0]).toMatch(/^not valid YAML/);
  });

  it("refuses an exec or nagios command the watcher would refuse at run time, with the same reason", async () => {
    const piped = await exampleWith((y) =>
      y.replace("command: ./deploy.sh", "command: ./deploy.sh | tee deploy.log"),
    );
    const runtimeReason = (() => {
      try {
        splitCommand("./deploy.sh | tee deploy.log");
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(runtimeReason).toBe("no shell runs the command, so '|' is not allowed");
    expect(problems(piped)).toEqual([`invalid command for exec watcher deploy: ${runtimeReason}`]);
    const redirected = await exampleWith((y) =>
      y.replace("command: ./deploy.sh", 'command: ./deploy.sh {{ lookup "data.tag" "x" }} > out'),
    );
    expect(problems(redirected)).toEqual([
      "invalid command for exec watcher deploy: no shell runs the command, so '>' is not allowed",
    ]);
    const nagios = loadMachineText(
      "name: N\nversion: 1.0.0\ninitial_state: a\ntransitions: [{name: OK, from: [a], destination: a}]\nwatchers: [{name: n, type: nagios, properties: {plugin: 'check_disk && reboot'}}]\n",
      registry,
    );
    expect(problems(nagios)).toEqual([
      "invalid plugin for nagios watcher n: no shell runs the command, so '&&' is not allowed",
    ]);
  });
});

describe("Choria's machine_name and its deprecated alias", () => {
  const machineWith = (subscribe: string, foreign: string) =>
    loadMachineText(
      `name: App
version: 1.0.0
initial_state: a
transitions:
  - {name: go, from: [a], destination: b, subscribe: [${subscribe}]}
watchers:
  - {name: w, type: timer, foreign_state_required: [${foreign}], fail_transition: go, properties: {timer: 1m}}
`,
      registry,
    );

  it("reads machine_name in subscribe and foreign_state_required, as Choria writes them", () => {
    const result = machineWith("{machine_name: Db, event: up}", "{machine_name: Db, state: ready}");
    expect(result.ok && result.warnings).toEqual([]);
    if (result.ok) {
      expect(result.definition.spec.transitions[0]!.subscribe).toEqual([
        { machine_name: "Db", event: "up" },
      ]);
      expect(result.definition.spec.watchers[0]!.foreign_state_required).toEqual([
        { machine_name: "Db", state: "ready" },
      ]);
    }
  });

  it("still reads the deprecated machine key this project's docs taught, with a warning each", () => {
    const result = machineWith("{machine: Db, event: up}", "{machine: Db, state: ready}");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.definition.spec.transitions[0]!.subscribe).toEqual([
      { machine_name: "Db", event: "up" },
    ]);
    expect(result.definition.spec.watchers[0]!.foreign_state_required).toEqual([
      { machine_name: "Db", state: "ready" },
    ]);
    expect(result.warnings).toEqual([
      "subscription 1 of transition go: 'machine' is deprecated, write 'machine_name' as Choria does",
      "foreign_state_required entry 1 of watcher w: 'machine' is deprecated, write 'machine_name' as Choria does",
    ]);
  });

  it("refuses a subscription without a machine or an event in Choria's words, and two different machines", () => {
    expect(problems(machineWith("{event: up}", "{machine_name: Db, state: ready}"))).toEqual([
      'machine name is required on subscription for transition "go"',
    ]);
    expect(problems(machineWith("{machine_name: Db}", "{machine_name: Db, state: ready}"))).toEqual(
      ['event name is required on subscription for transition "go"'],
    );
    expect(
      problems(
        machineWith(
          "{machine_name: Db, machine: Cache, event: up}",
          "{machine_name: Db, state: ready}",
        ),
      ),
    ).toEqual([
      "subscription 1 of transition go names two machines, machine_name Db and machine Cache: keep machine_name only",
    ]);
  });

  it("warns, as Choria silently never runs it, about a watcher whose foreign state is incomplete", () => {
    const result = machineWith("{machine_name: Db, event: up}", "{machine_name: Db}");
    expect(result.ok && result.warnings).toEqual([
      "foreign_state_required entry 1 of watcher w needs both machine_name and state: the watcher will never run (add the missing key)",
    ]);
  });

  it("refuses a machine without watchers or transitions with Choria's reasons, in Choria's order", () => {
    expect(
      problems(loadMachineText("name: A\nversion: 1.0.0\ninitial_state: a\n", registry)),
    ).toEqual(["no transitions defined", "no watchers defined"]);
    expect(problems(loadMachineText("{}", registry))).toEqual([
      "a machine name is required",
      "a machine version is required",
      "an initial state is required",
      "no transitions defined",
      "no watchers defined",
    ]);
  });
});
