import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelay, defaultBackoff } from "./backoff.js";

const policy = fc.record({
  baseMs: fc.integer({ min: 1, max: 60_000 }),
  capMs: fc.integer({ min: 1, max: 3_600_000 }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
});

describe("backoffDelay", () => {
  it("doubles from 10 s to a 5 min cap by default (no jitter)", () => {
    const noJitter = { ...defaultBackoff, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffDelay(noJitter, n))).toEqual([
      10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000,
    ]);
  });

  it("stays within [d*(1-jitter), d] and never above the cap (property)", () => {
    fc.assert(
      fc.property(
        policy,
        fc.integer({ min: 1, max: 2_000 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (p, n, r) => {
          const d = Math.min(p.capMs, p.baseMs * 2 ** Math.min(n - 1, 60));
          const delay = backoffDelay(p, n, () => r);
          expect(delay).toBeLessThanOrEqual(Math.round(d));
          expect(delay).toBeGreaterThanOrEqual(Math.floor(d * (1 - p.jitter)));
          expect(delay).toBeLessThanOrEqual(p.capMs);
        },
      ),
    );
  });

  it("never shrinks as failures grow, for the same random draw (property)", () => {
    fc.assert(
      fc.property(
        policy,
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (p, n, r) => {
          expect(backoffDelay(p, n + 1, () => r)).toBeGreaterThanOrEqual(
            backoffDelay(p, n, () => r),
          );
        },
      ),
    );
  });

  it("spreads retries of many resources apart (jitter)", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(defaultBackoff, 3)));
    expect(delays.size).toBeGreaterThan(10);
  });
});
