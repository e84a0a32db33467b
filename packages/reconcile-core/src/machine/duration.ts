import { z } from "zod";

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;

/**
 * Parses a Go-style duration (`500ms`, `10s`, `1m`, `1h30m`, `1.5h`) into milliseconds.
 * Returns undefined for anything else; "0" is zero, as in Go.
 */
export function parseDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (!GO_DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return ms;
}

/** Formats milliseconds the way Go prints a duration: `1m30s`, `500ms`, `2h0m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${+ms.toFixed(3)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = +((ms % 60_000) / 1_000).toFixed(3);
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** A zod schema for a Go-style duration string, giving milliseconds. */
export const DurationSchema = z
  .string()
  .regex(
    /^(0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/,
    "not a duration; use Go's form, e.g. 500ms, 10s, 1m, 1h30m",
  )
  .describe("Go-style duration, e.g. 500ms, 10s, 1m, 1h30m");

/** The milliseconds of a duration already validated by `DurationSchema`. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`invalid duration '${text}'`);
  return ms;
}
