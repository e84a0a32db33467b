import { UsageError } from "./errors.js";

/** Commander's argument parser for a repeatable flag: `-e A=1 -e B=2` gives `["A=1", "B=2"]`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * `NAME=value` pairs (from a repeatable flag) as a record; a pair without `=` is a usage error
 * naming the flag, so the user sees which argument to fix.
 */
export function keyValues(flag: string, pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} ${pair}: use NAME=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
