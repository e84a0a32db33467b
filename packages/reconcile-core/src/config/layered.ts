import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { formatIssues } from "../errors.js";
import { REDACTED_KEYS } from "../logging/logger.js";
import { yamlErrorMessage } from "../util/yaml.js";

/** A configuration that could not be read or is invalid; the message names the file and fields. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Merges `over` onto `base`: objects merge key by key, anything else (arrays too) replaces; undefined is skipped. */
export function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    out[key] = isPlain(value) && isPlain(out[key]) ? deepMerge(out[key] as Plain, value) : value;
  }
  return out;
}

/** Reads a YAML or JSON config file into a plain object. */
export async function readConfigFile(path: string): Promise<Plain> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true }) ?? {};
  } catch (err) {
    throw new ConfigError(
      `config file ${path} is not valid YAML or JSON: ${yamlErrorMessage(err, text)}`,
    );
  }
  if (!isPlain(value)) throw new ConfigError(`config file ${path} must hold a mapping of settings`);
  return value;
}

/**
 * Builds a configuration from layers in rising precedence (file, then environment, then
 * flags) and validates it once with the app's schema.
 */
export function resolveConfig<S extends z.ZodType>(
  schema: S,
  layers: Array<Plain | undefined>,
  origin = "configuration",
): z.infer<S> {
  const merged = layers.reduce<Plain>((acc, layer) => (layer ? deepMerge(acc, layer) : acc), {});
  const result = schema.safeParse(merged);
  if (!result.success) throw new ConfigError(`invalid ${origin}: ${formatIssues(result.error)}`);
  return result.data;
}

/** Sets `value` at a dotted `path` in a new layer object (for environment variables and flags). */
export function layerFrom(entries: Array<[path: string, value: unknown]>): Plain {
  const layer: Plain = {};
  for (const [path, value] of entries) {
    if (value === undefined) continue;
    const parts = path.split(".");
    let node = layer;
    for (const part of parts.slice(0, -1)) {
      if (!isPlain(node[part])) node[part] = {};
      node = node[part] as Plain;
    }
    node[parts.at(-1)!] = value;
  }
  return layer;
}

const SECRET = new Set<string>(REDACTED_KEYS.map((k) => k.toLowerCase()));

/** A copy with every secret-bearing field replaced by "********", for `--print-config`. */
export function maskSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(maskSecrets) as T;
  if (!isPlain(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      SECRET.has(k.toLowerCase()) && v !== undefined ? "********" : maskSecrets(v),
    ]),
  ) as T;
}
