import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir, writeMachineDir } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";
import { Cli } from "./cli.js";

const choriaTestdata = new URL(
  "../../../packages/reconcile-core/test-fixtures/choria/go-choria/",
  import.meta.url,
).pathname;

/** Deploys once: a failing script, then a check that always passes. */
const failing = `name: Deployer
version: 1.0.0
initial_state: deploy
transitions:
  - {name: deployed, from: [deploy], destination: monitor}
  - {name: deploy_failed, from: [deploy], destination: broken}
watchers:
  - name: deploy
    type: exec
    state_match: [deploy]
    success_transition: deployed
    fail_transition: deploy_failed
    properties: {command: ./deploy.sh}
`;

describe("edge-agent machine validate, as Choria writes machines", () => {
  it("accepts go-choria's subscriber.yaml (subscribe with machine_name)", async () => {
    const { code, stdout } = await Cli.run([
      "machine",
      "validate",
      join(choriaTestdata, "subscriber.yaml"),
    ]);
    expect(stdout).toEqual([
      `${join(choriaTestdata, "subscriber.yaml")}: ok (Subscriber 0.0.1: 2 states, 1 transitions, 1 watchers)`,
    ]);
    expect(code).toBe(0);
  });

  it("accepts the deprecated machine key with a warning, and refuses a shell pipe the exec watcher would refuse", async () => {
    const dir = await tempDir("validate");
    await writeFile(
      join(dir, "old.yaml"),
      `name: Old
version: 1.0.0
initial_state: a
transitions:
  - {name: go, from: [a], destination: b, subscribe: [{machine: Db, event: up}]}
watchers:
  - {name: w, type: timer, properties: {timer: 1m}}
`,
    );
    await writeFile(
      join(dir, "piped.yaml"),
      failing.replace("command: ./deploy.sh", "command: ./deploy.sh | logger"),
    );
    const { code, stdout } = await Cli.run([
      "machine",
      "validate",
      join(dir, "old.yaml"),
      join(dir, "piped.yaml"),
    ]);
    expect(stdout).toEqual([
      `${join(dir, "old.yaml")}: ok (Old 1.0.0: 2 states, 1 transitions, 1 watchers)`,
      "  warning: subscription 1 of transition go: 'machine' is deprecated, write 'machine_name' as Choria does",
      `${join(dir, "piped.yaml")}: invalid`,
      "  - invalid command for exec watcher deploy: no shell runs the command, so '|' is not allowed",
    ]);
    expect(code).toBe(1);
  });
});

/** Choria's own docs misspell state_match (website/reference-plugins): Choria ignores the key. */
const misspelt = `name: Typo
version: 1.0.0
initial_state: a
transitions:
  - {name: go, from: [a], destination: b}
watchers:
  - name: w
    type: exec
    state_matchin: [b]
    properties: {command: ./check.sh, governor: DEPLOY}
`;
const typoWarnings = [
  "unknown key 'state_matchin' in watchers[0] (watcher w) is ignored, as Choria ignores it: did you mean 'state_match'?",
  "'governor' in watchers[0].properties (exec watcher w) is a Choria property this agent does not implement; it is ignored",
];

describe("edge-agent machine validate, what Choria ignores", () => {
  it("accepts unknown keys and unimplemented Choria properties as Choria does, warning loudly; --strict refuses them", async () => {
    const dir = await tempDir("validate-keys");
    const file = join(dir, "typo.yaml");
    await writeFile(file, misspelt);

    const lenient = await Cli.run(["machine", "validate", file]);
    expect(lenient.stdout).toEqual([
      `${file}: ok (Typo 1.0.0: 2 states, 1 transitions, 1 watchers)`,
      ...typoWarnings.map((w) => `  warning: ${w}`),
    ]);
    expect(lenient.code).toBe(0);

    const json = await Cli.run(["machine", "validate", "--json", file]);
    expect(JSON.parse(json.stdout.join("\n"))).toEqual([
      {
        path: file,
        ok: true,
        machine: "Typo",
        version: "1.0.0",
        problems: [],
        warnings: typoWarnings,
      },
    ]);
    expect(json.code).toBe(0);

    const strict = await Cli.run(["machine", "validate", "--strict", file]);
    expect(strict.stdout).toEqual([
      `${file}: invalid`,
      ...typoWarnings.map((w) => `  - ${w} (--strict)`),
    ]);
    expect(strict.code).toBe(1);
  });

  it("refuses Choria's plugins watcher, naming it as a Choria type this agent does not implement", async () => {
    const dir = await tempDir("validate-plugins");
    const file = join(dir, "plugins.yaml");
    await writeFile(
      file,
      misspelt
        .replace("type: exec", "type: plugins")
        .replace("command: ./check.sh, governor: DEPLOY", "data_item: machines"),
    );
    const { code, stdout } = await Cli.run(["machine", "validate", file]);
    expect(stdout).toEqual([
      `${file}: invalid`,
      "  - unknown watcher 'plugins' in watcher w: plugins is a Choria watcher type this agent does not implement; known types: archive, exec, expression, file, kv, nagios, schedule, timer",
      `  warning: ${typoWarnings[0]}`,
    ]);
    expect(code).toBe(1);
  });
});

describe("edge-agent machine run, warnings", () => {
  it("says on stderr what a machine in a directory has that Choria ignores", async () => {
    const root = await tempDir("run-warnings");
    await writeMachineDir(join(root, "typo"), misspelt, { "check.sh": "#!/bin/sh\nexit 0\n" });
    const cli = Cli.start(["machine", "run", root, "--identity", "pi-7"]);
    await cli.line(
      /^warning: Typo \(.*typo\): unknown key 'state_matchin' in watchers\[0\] \(watcher w\) is ignored, as Choria ignores it: did you mean 'state_match'\?$/,
      20_000,
      "stderr",
    );
    expect(await cli.stop("SIGTERM")).toBe(0);
  });
});

describe("edge-agent machine run, human lines", () => {
  it("prints Choria's transition line and says why an exec watcher failed", async () => {
    const root = await tempDir("run");
    await writeMachineDir(join(root, "deployer"), failing, {
      "deploy.sh": "#!/bin/sh\necho 'image web:9 not found' >&2\nexit 3\n",
    });
    const cli = Cli.start(["machine", "run", root, "--identity", "pi-7"]);
    // Choria's TransitionNotification.String(): identity, machine, transition, from, to.
    await cli.line(/^pi-7 Deployer transitioned via event deploy_failed: deploy => broken$/);
    await cli.line(
      /^pi-7 Deployer#deploy command: \.\/deploy\.sh, exit code 3: image web:9 not found, previous: fail ran: \d+\.\d{3}s$/,
    );
    expect(await cli.stop("SIGTERM")).toBe(0);
  });
});

describe("edge-agent machine run, given a directory that cannot work", () => {
  it("refuses a missing directory at once, as JSON under --json, with a non-zero exit", async () => {
    const missing = join(await tempDir("machine-run-missing"), "nope");
    const json = await Cli.run(["machine", "run", missing, "--json"]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout.at(-1) ?? "")).toMatchObject({
      error: "MachineDirNotFound",
      details: { path: missing },
    });
    const text = await Cli.run(["machine", "run", missing]);
    expect(text.code).toBe(1);
    expect(text.stderr.join("\n")).toContain("no such directory");
  });

  it("refuses an invalid machine as JSON under --json", async () => {
    const dir = await tempDir("machine-run-invalid");
    await writeFile(join(dir, "machine.yaml"), "name: broken\nversion: 1.0.0\n");
    const { code, stdout } = await Cli.run(["machine", "run", dir, "--json"]);
    expect(code).toBe(1);
    expect(JSON.parse(stdout.at(-1) ?? "")).toMatchObject({ error: "MachineInvalid" });
  });
});
