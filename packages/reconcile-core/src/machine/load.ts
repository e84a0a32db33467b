import { readFile } from "node:fs/promises";
import { formatIssues } from "../errors.js";
import { decodeYaml } from "../util/yaml.js";
import { formatDuration, parseDuration } from "./duration.js";
import { machineStates } from "./fsm.js";
import { type MachineSpec, MachineSpecSchema, type WatcherSpec } from "./spec.js";
import { templateError } from "./template.js";
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

export type MachineLoadResult =
  | { ok: true; definition: MachineDefinition }
  | { ok: false; error: MachineValidationError };

const MIN_ANNOUNCE_MS = 60_000;

/** Validates a decoded machine.yaml: schema first, then names and properties. Never throws. */
export function validateMachine(
  raw: unknown,
  registry: WatcherRegistry,
  origin = "machine.yaml",
): MachineLoadResult {
  const parsed = MachineSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const name =
      raw && typeof raw === "object" && typeof (raw as { name?: unknown }).name === "string"
        ? (raw as { name: string }).name
        : undefined;
    return {
      ok: false,
      error: new MachineValidationError(origin, formatIssues(parsed.error).split("; "), name),
    };
  }
  const spec = parsed.data;
  const states = machineStates(spec);
  const transitions = new Set(spec.transitions.map((t) => t.name));
  const problems: string[] = [];
  const watchers: MachineDefinition["watchers"] = [];
  const seen = new Set<string>();

  for (const w of spec.watchers) {
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
      problems.push(
        `unknown watcher type '${w.type}' in watcher ${w.name}; known types: ${registry.names().join(", ")}`,
      );
      continue;
    }
    const props = type.properties.safeParse(w.properties ?? {});
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
  for (const t of spec.transitions) {
    for (const sub of t.subscribe ?? []) {
      if (sub.machine === spec.name)
        problems.push(`transition ${t.name} subscribes to its own machine ${sub.machine}`);
    }
  }
  if (problems.length > 0)
    return { ok: false, error: new MachineValidationError(origin, problems, spec.name) };
  return { ok: true, definition: { spec, states, watchers } };
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
