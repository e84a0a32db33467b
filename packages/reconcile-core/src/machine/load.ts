import { readFile } from "node:fs/promises";
import { z } from "zod";
import { formatIssues } from "../errors.js";
import { decodeYaml } from "../util/yaml.js";
import { formatDuration, parseDuration } from "./duration.js";
import { machineStates } from "./fsm.js";
import { type MachineSpec, MachineSpecSchema, type WatcherSpec } from "./spec.js";
import { templateError } from "./template.js";
import { formatPath, inDocumentOrder, type KeyWarning, parseLenient } from "./unknown-keys.js";
import type { WatcherRegistry } from "./watchers/registry.js";
import type { WatcherType } from "./watchers/watcher.js";

/** A machine that passed schema and semantic checks, with each watcher's typed properties. */
export interface MachineDefinition {
  spec: MachineSpec;
  states: ReadonlySet<string>;
  watchers: Array<{ spec: WatcherSpec; type: WatcherType; properties: unknown }>;
}

/** Why a machine.yaml was refused: every problem found, each naming the watcher and the name at fault. */
export class MachineValidationError extends Error {
  override name = "MachineValidationError";
  constructor(
    readonly origin: string,
    readonly problems: string[],
    readonly machine?: string,
  ) {
    super(
      `${machine ? `machine ${machine}` : "machine"} (${origin}) is invalid: ${problems.join("; ")}`,
    );
  }
}

/**
 * `warnings` are what Choria accepts but a user should change (an unknown key, which Choria
 * ignores as we do, a Choria property this agent does not implement, a deprecated key, a watcher
 * that can never run); the machine runs all the same. `machine validate --strict` refuses them.
 */
export type MachineLoadResult =
  | { ok: true; definition: MachineDefinition; warnings: string[] }
  | { ok: false; error: MachineValidationError; warnings: string[] };

/**
 * Choria's own checks of the top-level keys (`Machine.Validate`), in its order and words, so the
 * first problem listed is the reason Choria gives.
 */
const REQUIRED: Array<[key: string, message: string, present: (v: unknown) => boolean]> = [
  ["name", "a machine name is required", (v) => v !== undefined && v !== null && v !== ""],
  ["version", "a machine version is required", (v) => v !== undefined && v !== null && v !== ""],
  [
    "initial_state",
    "an initial state is required",
    (v) => v !== undefined && v !== null && v !== "",
  ],
  ["transitions", "no transitions defined", (v) => (Array.isArray(v) ? v.length > 0 : v != null)],
  ["watchers", "no watchers defined", (v) => (Array.isArray(v) ? v.length > 0 : v != null)],
];

function requiredProblems(raw: unknown): { problems: string[]; keys: Set<string> } {
  const doc =
    raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const problems: string[] = [];
  const keys = new Set<string>();
  for (const [key, message, present] of REQUIRED) {
    if (!present(doc[key])) {
      problems.push(message);
      keys.add(key);
    }
  }
  return { problems, keys };
}

const MIN_ANNOUNCE_MS = 60_000;

/**
 * Watcher types Choria ships that this agent does not: refused with Choria's own message, and
 * saying so. (`homekit` was removed from Choria itself in 0.30.)
 */
const CHORIA_TYPES_NOT_SHIPPED = new Set([
  "ccm_manifest",
  "gossip",
  "httpswitch",
  "machines",
  "metric",
  "plugins",
]);

/** `watchers[1] (watcher check)`: a path in the document, with the name of what it is in. */
function describeAt(raw: unknown, path: ReadonlyArray<PropertyKey>): string {
  const at = path.length > 0 ? formatPath(path) : "the machine's top level";
  const [list, index] = path;
  if ((list === "watchers" || list === "transitions") && typeof index === "number") {
    const item = (raw as Record<string, unknown[] | undefined>)[list]?.[index];
    const name = (item as { name?: unknown } | undefined)?.name;
    if (typeof name === "string")
      return `${at} (${list === "watchers" ? "watcher" : "transition"} ${name})`;
  }
  return at;
}

/** Validates a decoded machine.yaml: schema first, then names and properties. Never throws. */
export function validateMachine(
  raw: unknown,
  registry: WatcherRegistry,
  origin = "machine.yaml",
): MachineLoadResult {
  const required = requiredProblems(raw);
  // Choria's decoder drops unknown keys; so do we, loudly.
  const lenient = parseLenient(MachineSpecSchema, raw, { where: (path) => describeAt(raw, path) });
  const parsed = lenient.parsed;
  const keyWarnings: KeyWarning[] = [...lenient.warnings];
  // Unknown keys first, in the order they appear in the file; then everything else.
  const warnings: string[] = [];
  const allWarnings = () => [
    ...keyWarnings.sort(inDocumentOrder(raw)).map((w) => w.message),
    ...warnings,
  ];
  if (!parsed.success || required.problems.length > 0) {
    const name =
      raw && typeof raw === "object" && typeof (raw as { name?: unknown }).name === "string"
        ? (raw as { name: string }).name
        : undefined;
    // A key Choria's message already names is not reported twice.
    const issues = (parsed.error?.issues ?? []).filter(
      (issue) => !(issue.path.length <= 1 && required.keys.has(String(issue.path[0]))),
    );
    const problems = [
      ...required.problems,
      ...issues.map((issue) => formatIssues(new z.ZodError([issue]))),
    ];
    return {
      ok: false,
      error: new MachineValidationError(origin, problems, name),
      warnings: allWarnings(),
    };
  }
  const spec = parsed.data;
  const states = machineStates(spec);
  const transitions = new Set(spec.transitions.map((t) => t.name));
  const problems: string[] = [];
  const watchers: MachineDefinition["watchers"] = [];
  const seen = new Set<string>();

  for (const t of spec.transitions) {
    for (const [i, sub] of (t.subscribe ?? []).entries()) {
      const where = `subscription ${i + 1} of transition ${t.name}`;
      const name = foreignName(sub, where, problems, warnings);
      // Choria's own messages (machine.FromYAML).
      if (!name)
        problems.push(`machine name is required on subscription for transition "${t.name}"`);
      if (!sub.event)
        problems.push(`event name is required on subscription for transition "${t.name}"`);
    }
  }

  for (const [index, w] of spec.watchers.entries()) {
    for (const [i, foreign] of (w.foreign_state_required ?? []).entries()) {
      const where = `foreign_state_required entry ${i + 1} of watcher ${w.name}`;
      const name = foreignName(foreign, where, problems, warnings);
      // Choria loads this and never runs the watcher (ShouldWatch); say so rather than refuse.
      if (!name || !foreign.state)
        warnings.push(
          `${where} needs both machine_name and state: the watcher will never run (add the missing key)`,
        );
    }
    if (seen.has(w.name)) problems.push(`duplicate watcher name ${w.name}`);
    seen.add(w.name);
    // The next three messages are Choria's own, word for word, so operators see the same errors.
    for (const state of w.state_match ?? []) {
      if (!states.has(state))
        problems.push(`invalid state ${state} in state match for watcher ${w.name}`);
    }
    if (w.fail_transition && !transitions.has(w.fail_transition)) {
      problems.push(`invalid fail_transition ${w.fail_transition} specified in watcher ${w.name}`);
    }
    if (w.success_transition && !transitions.has(w.success_transition)) {
      problems.push(
        `invalid success_transition ${w.success_transition} specified in watcher ${w.name}`,
      );
    }
    const announceMs =
      w.announce_interval === undefined ? undefined : parseDuration(w.announce_interval);
    if (announceMs !== undefined && announceMs < MIN_ANNOUNCE_MS) {
      problems.push(
        `announce interval ${formatDuration(announceMs)} is too small for watcher ${w.name}`,
      );
    }
    const type = registry.get(w.type);
    if (!type) {
      const choria = CHORIA_TYPES_NOT_SHIPPED.has(w.type)
        ? `: ${w.type} is a Choria watcher type this agent does not implement`
        : "";
      problems.push(
        `unknown watcher '${w.type}' in watcher ${w.name}${choria}; known types: ${registry.names().join(", ")}`,
      );
      continue;
    }
    // mapstructure, which Choria decodes properties with, ignores unknown keys and case.
    const prefix = ["watchers", index, "properties"];
    const lenientProps = parseLenient(type.properties, w.properties ?? {}, {
      where: (path) => `${formatPath([...prefix, ...path])} (${w.type} watcher ${w.name})`,
      choriaOnly: type.choriaOnlyProperties ?? [],
      anyCase: true,
      prefix,
    });
    keyWarnings.push(...lenientProps.warnings);
    const props = lenientProps.parsed;
    if (!props.success) {
      problems.push(
        `invalid properties for ${w.type} watcher ${w.name}: ${formatIssues(props.error)}`,
      );
      continue;
    }
    for (const text of templatedStrings(w.properties ?? {})) {
      const error = templateError(text);
      if (error) problems.push(`invalid template in watcher ${w.name}: ${error}`);
    }
    problems.push(...(type.validate?.(w, props.data, transitions) ?? []));
    watchers.push({ spec: w, type, properties: props.data });
  }
  if (problems.length > 0)
    return {
      ok: false,
      error: new MachineValidationError(origin, problems, spec.name),
      warnings: allWarnings(),
    };
  return { ok: true, definition: { spec, states, watchers }, warnings: allWarnings() };
}

/**
 * The other machine an entry names, as `machine_name` (Choria's key). The deprecated `machine`
 * is moved to `machine_name` with a warning; both at once must agree.
 */
function foreignName(
  entry: { machine_name?: string | undefined; machine?: string | undefined },
  where: string,
  problems: string[],
  warnings: string[],
): string | undefined {
  if (entry.machine !== undefined) {
    if (entry.machine_name !== undefined && entry.machine_name !== entry.machine) {
      problems.push(
        `${where} names two machines, machine_name ${entry.machine_name} and machine ${entry.machine}: keep machine_name only`,
      );
    } else {
      warnings.push(`${where}: 'machine' is deprecated, write 'machine_name' as Choria does`);
      entry.machine_name = entry.machine;
    }
    delete entry.machine;
  }
  return entry.machine_name;
}

/** Parses machine.yaml text (YAML or JSON) and validates it. Never throws. */
export function loadMachineText(
  text: string,
  registry: WatcherRegistry,
  origin = "machine.yaml",
): MachineLoadResult {
  const decoded = decodeYaml(text);
  if (!decoded.ok)
    return {
      ok: false,
      error: new MachineValidationError(origin, [`not valid YAML: ${decoded.message}`]),
      warnings: [],
    };
  return validateMachine(decoded.value, registry, origin);
}

export async function loadMachineFile(
  path: string,
  registry: WatcherRegistry,
): Promise<MachineLoadResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    return {
      ok: false,
      error: new MachineValidationError(path, [`cannot read: ${(err as Error).message}`]),
      warnings: [],
    };
  }
  return loadMachineText(text, registry, path);
}

function* templatedStrings(value: unknown): Generator<string> {
  if (typeof value === "string") {
    if (value.includes("{{")) yield value;
  } else if (Array.isArray(value)) {
    for (const v of value) yield* templatedStrings(v);
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) yield* templatedStrings(v);
  }
}
