import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.js";

describe("Go durations", () => {
  it.each([
    ["500ms", 500],
    ["10s", 10_000],
    ["1m", 60_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["2h45m10s", 9_910_000],
    ["250us", 0.25],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "10", "1d", "s", "-5s", "10 s", "1m-2s"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it("formats and parses back to the same milliseconds (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 * 3_600_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});
