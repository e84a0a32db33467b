import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadMachineText, validateMachine } from "./load.js";
import { builtinWatchers } from "./watchers/builtin.js";

/**
 * Every machine file in go-choria's aagent testdata and every machine example on choria.io's
 * autonomous-agent pages (test-fixtures/choria, see its NOTICE), through the same validation as
 * `edge-agent machine validate`. Each verdict below was read from Choria's code, not from ours:
 * `Machine.Validate` and `WatcherDef.Validate*` (aagent/machine/machine.go,
 * aagent/watchers/watcherdef.go), `FromYAML`'s subscription checks, and the watcher manager's
 * `configureWatchers` (aagent/watchers/watchers.go), which refuses an unknown type with
 * `unknown watcher '<type>'` and each watcher's properties through its own `validate()`.
 */
const fixtures = new URL("../../test-fixtures/choria/", import.meta.url).pathname;

type Verdict =
  | { choria: "accepts" }
  | { choria: "refuses"; reason: string }
  /** Choria accepts it; we refuse, saying why: a watcher type this project does not ship. */
  | { choria: "accepts"; here: "refuses"; reason: string; warnings?: string[] };

const verdicts: Record<string, Verdict> = {
  // Machine.Validate: the first check.
  "go-choria/empty.yaml": { choria: "refuses", reason: "a machine name is required" },
  "go-choria/machine.yaml": { choria: "accepts" },
  // subscribe: [{machine_name, event}] (MachineSubscription).
  "go-choria/subscriber.yaml": { choria: "accepts" },
  // Watcher `off` has success_transition `idle`, a state: WatcherDef.ValidateTransitions.
  "website/example-hvac.yaml": {
    choria: "refuses",
    reason: "invalid success_transition idle specified in watcher off",
  },
  "website/example-subscribe.fragment.yaml": { choria: "accepts" },
  "website/example-foreign-state.fragment.yaml": { choria: "accepts" },
  // kv validate(): bucket set, mode poll with a key.
  "website/reference-kv.fragment.yaml": { choria: "accepts" },
  // archive validate(): source, creates, target and checksum set; verify with verify_checksum;
  // username with password; interval 1m (at least 10s).
  "website/reference-archive.fragment.yaml": { choria: "accepts" },
  // A snippet about overrides: name but no version.
  "website/reference-nagios-overrides.yaml": {
    choria: "refuses",
    reason: "a machine version is required",
  },
  "website/reference-check-httpd.yaml": { choria: "accepts" },
  // `state_matchin` (a typo in Choria's docs) is dropped by Choria's YAML decoder, and here with
  // a warning; the file is refused only for its `plugins` type, which we do not ship.
  "website/reference-plugins.fragment.yaml": {
    choria: "accepts",
    here: "refuses",
    reason:
      "unknown watcher 'plugins' in watcher manage_plugins: plugins is a Choria watcher type this agent does not implement",
    warnings: [
      "unknown key 'state_matchin' in watchers[1] (watcher manage_plugins) is ignored, as Choria ignores it: did you mean 'state_match'?",
    ],
  },
  "website/reference-schedule.fragment.yaml": { choria: "accepts" },
  // Names starting with a digit: Choria's loader takes any name.
  "website/reference-timer.fragment.yaml": { choria: "accepts" },
  // The homekit watcher was removed in Choria 0.30.0.
  "website/reference-homekit.fragment.yaml": {
    choria: "refuses",
    reason: "unknown watcher 'homekit'",
  },
  "website/blog-2019-autonomous-agents.yaml": { choria: "accepts" },
};

interface WatcherFragment {
  state_match?: string[];
  success_transition?: string;
  fail_transition?: string;
}

/**
 * A fragment in the smallest machine around it: a transition list gets one idle watcher; a
 * watcher list gets the states it matches, one transition for each it fires and one more. Nothing the
 * fragment itself says is changed.
 */
function hosted(fragment: unknown): unknown {
  if (fragment && typeof fragment === "object" && "transitions" in fragment) {
    const transitions = (fragment as { transitions: Array<{ from: string[] }> }).transitions;
    return {
      name: "DocHost",
      version: "1.0.0",
      initial_state: transitions[0]!.from[0],
      transitions,
      watchers: [{ name: "host_timer", type: "timer", properties: { timer: "1h" } }],
    };
  }
  const watchers = (
    Array.isArray(fragment) ? fragment : (fragment as { watchers: unknown[] }).watchers
  ) as WatcherFragment[];
  const states = [...new Set(watchers.flatMap((w) => w.state_match ?? []))];
  if (states.length === 0) states.push("unknown");
  const fired = new Set(
    watchers.flatMap((w) => [w.success_transition, w.fail_transition]).filter(Boolean),
  );
  return {
    name: "DocHost",
    version: "1.0.0",
    initial_state: states[0],
    // Choria requires a transition even when the watchers fire none.
    transitions: [...fired, "host_reset"].map((name) => ({
      name,
      from: states,
      destination: states[0],
    })),
    watchers,
  };
}

async function validateFixture(file: string) {
  const text = await readFile(join(fixtures, file), "utf8");
  if (!file.endsWith(".fragment.yaml")) return loadMachineText(text, builtinWatchers(), file);
  return validateMachine(hosted(parseYaml(text)), builtinWatchers(), file);
}

describe("Choria's own machine files (go-choria testdata, choria.io docs)", async () => {
  const files = (
    await Promise.all(
      ["go-choria", "website"].map(async (dir) =>
        (await readdir(join(fixtures, dir))).map((f) => `${dir}/${f}`),
      ),
    )
  ).flat();

  it("has a recorded verdict for every copied file, and a file for every verdict", () => {
    expect(files.sort()).toEqual(Object.keys(verdicts).sort());
  });

  it.each(Object.entries(verdicts))("%s: as Choria decides", async (file, verdict) => {
    const result = await validateFixture(file);
    const problems = result.ok ? [] : result.error.problems;
    if ("here" in verdict) {
      // A known divergence: refused, and the reason says which.
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(verdict.reason);
      // What Choria ignores is ignored here too, and said.
      expect(result.warnings).toEqual(verdict.warnings ?? []);
    } else if (verdict.choria === "accepts") {
      expect(problems).toEqual([]);
      expect(result.warnings).toEqual([]);
    } else {
      // Choria stops at its first problem; ours lists every problem, Choria's first.
      expect(problems[0] ?? "(accepted)").toContain(verdict.reason);
    }
  });

  it("reads Choria's machine_name in subscriptions and foreign states, and runs nothing on a warning", async () => {
    const result = await validateFixture("go-choria/subscriber.yaml");
    expect(result.ok && result.definition.spec.transitions[0]!.subscribe).toEqual([
      { machine_name: "TestMachine", event: "fire_1" },
    ]);
    expect(result.ok && result.warnings).toEqual([]);
  });
});
