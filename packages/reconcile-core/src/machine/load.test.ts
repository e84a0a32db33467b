import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadMachineFile, loadMachineText } from "./load.js";
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

  it("refuses unknown keys instead of ignoring them", async () => {
    const result = await exampleWith((y) => y.replace("    interval: 30s", "    intervall: 30s"));
    expect(problems(result).join()).toMatch(/watchers\[2\].*intervall/);
  });

  it("refuses an unknown watcher type and invalid properties, naming the watcher", async () => {
    const unknown = await exampleWith((y) => y.replace("type: file", "type: fiel"));
    expect(problems(unknown)[0]).toMatch(
      /^unknown watcher type 'fiel' in watcher manifest; known types: exec, expression, file/,
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
          "name: A\nversion: one\ninitial_state: a\ntransitions: [{name: t, from: [a], destination: b}]\n",
          registry,
        ),
      )[0],
    ).toContain("version must be SemVer");
    expect(problems(loadMachineText("name: [", registry))[0]).toMatch(/^not valid YAML/);
  });
});
