import type { z } from "zod";

/**
 * Choria decodes machine.yaml into Go structs (goccy/go-yaml) and watcher properties with
 * mapstructure; both drop keys they do not know, and mapstructure matches property names in
 * any case. Our schemas are strict (they are the editor schema and `machine validate --strict`);
 * this parses as Choria reads: an unknown key is dropped with a warning that names it, where it
 * is and, when a known key is a typo away, which one was probably meant.
 */
export interface LenientOptions {
  /** Where a path is, for humans: `watchers[1] (watcher manage_plugins)`. */
  where(path: ReadonlyArray<PropertyKey>): string;
  /** Keys Choria reads here that this agent does not implement: ignored with their own warning. */
  choriaOnly?: ReadonlyArray<string>;
  /** Match keys in any case, as mapstructure does (watcher properties). */
  anyCase?: boolean;
  /** Where `value` is in the document, for the warnings' `path`. */
  prefix?: ReadonlyArray<PropertyKey>;
}

/** A warning about a key, with the path of the object that holds it (for sorting in document order). */
export interface KeyWarning {
  path: PropertyKey[];
  message: string;
}

export interface LenientResult<T> {
  parsed: z.ZodSafeParseResult<T>;
  warnings: KeyWarning[];
}

/** Parses `value` with a strict `schema`, dropping (or, in any case, renaming) unknown keys with a warning each. */
export function parseLenient<T>(
  schema: z.ZodType<T>,
  value: unknown,
  options: LenientOptions,
): LenientResult<T> {
  const copy = structuredClone(value);
  const warnings: KeyWarning[] = [];
  const warn = (path: ReadonlyArray<PropertyKey>, key: string, message: string) =>
    warnings.push({ path: [...(options.prefix ?? []), ...path, key], message });
  const choriaOnly = new Set((options.choriaOnly ?? []).map((k) => k.toLowerCase()));
  // A strict object reports all its unknown keys at once; nested ones may only show once the
  // parent parses, hence a few rounds.
  for (let round = 0; ; round++) {
    const parsed = schema.safeParse(copy);
    const unknown = parsed.success
      ? []
      : parsed.error.issues.filter(
          (i): i is z.core.$ZodIssueUnrecognizedKeys => i.code === "unrecognized_keys",
        );
    if (unknown.length === 0 || round === 8) return { parsed, warnings };
    for (const issue of unknown) {
      const target = valueAt(copy, issue.path);
      if (!target) continue;
      const known = knownKeysAt(schema, issue.path);
      const where = options.where(issue.path);
      for (const key of issue.keys) {
        const value = target[key];
        delete target[key];
        const sameKey = options.anyCase
          ? known.find((k) => k.toLowerCase() === key.toLowerCase() && !(k in target))
          : undefined;
        if (sameKey) {
          target[sameKey] = value;
          warn(
            issue.path,
            key,
            `'${key}' in ${where} is read as '${sameKey}' (Choria matches property names in any case): write '${sameKey}'`,
          );
        } else if (choriaOnly.has(key.toLowerCase())) {
          warn(
            issue.path,
            key,
            `'${key}' in ${where} is a Choria property this agent does not implement; it is ignored`,
          );
        } else {
          const guess = closest(key, [...known, ...(options.choriaOnly ?? [])]);
          warn(
            issue.path,
            key,
            `unknown key '${key}' in ${where} is ignored, as Choria ignores it: ${guess ? `did you mean '${guess}'?` : "remove it"}`,
          );
        }
      }
    }
  }
}

/** A comparator that orders key warnings as their keys appear in `document`. */
export function inDocumentOrder(document: unknown): (a: KeyWarning, b: KeyWarning) => number {
  return (a, b) => {
    for (let i = 0; i < Math.min(a.path.length, b.path.length); i++) {
      const x = a.path[i]!;
      const y = b.path[i]!;
      if (x === y) continue;
      if (typeof x === "number" && typeof y === "number") return x - y;
      const keys = Object.keys(valueAt(document, a.path.slice(0, i)) ?? {});
      return keys.indexOf(String(x)) - keys.indexOf(String(y));
    }
    return a.path.length - b.path.length;
  };
}

/** `watchers[1].properties`, for messages. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((part, i) =>
      typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`,
    )
    .join("");
}

/** The known key closest to `key`, if it is a small typo away (Levenshtein ≤ 2, and less than half the key). */
export function closest(key: string, known: ReadonlyArray<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.floor((key.length - 1) / 2)) ? best : undefined;
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

function valueAt(
  value: unknown,
  path: ReadonlyArray<PropertyKey>,
): Record<string, unknown> | undefined {
  let current = value;
  for (const part of path) {
    if (!current || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current && typeof current === "object" && !Array.isArray(current)
    ? (current as Record<string, unknown>)
    : undefined;
}

interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
}

const defOf = (schema: z.core.$ZodType) => schema._zod.def as unknown as Def;

/** Strips optional, default, nullable and pipes down to the schema that holds the shape. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    const def = defOf(schema);
    const next = def.innerType ?? (def.type === "pipe" ? def.in : undefined);
    if (!next) return schema;
    schema = next;
  }
}

/** The keys the object schema at `path` knows. */
function knownKeysAt(schema: z.core.$ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let current: z.core.$ZodType | undefined = unwrap(schema);
  for (const part of path) {
    const def = defOf(current);
    current =
      def.type === "object"
        ? def.shape?.[String(part)]
        : def.type === "array"
          ? def.element
          : def.type === "record"
            ? def.valueType
            : undefined;
    if (!current) return [];
    current = unwrap(current);
  }
  const def = defOf(current);
  return def.type === "object" ? Object.keys(def.shape ?? {}) : [];
}
