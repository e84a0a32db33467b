/** How long to wait before retrying a resource that keeps failing. */
export interface BackoffPolicy {
  /** Delay after the first failure, ms. Default 10 s, like kubelet's image and crash-loop backoff. */
  baseMs: number;
  /** The delay never exceeds this, ms. Default 5 min. */
  capMs: number;
  /** Share of the delay that is randomised away (0..1), so a fleet does not retry in lockstep. Default 0.2. */
  jitter: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 10_000, capMs: 300_000, jitter: 0.2 };

/**
 * The delay before retry number `failures` (1 = after the first failure): the base doubled
 * per consecutive failure, capped, then shortened by up to `jitter` of itself. The result
 * lies in `[d * (1 - jitter), d]` where `d = min(cap, base * 2^(failures-1))`.
 */
export function backoffDelay(
  policy: BackoffPolicy,
  failures: number,
  random: () => number = Math.random,
): number {
  if (failures < 1) return 0;
  // 2^60 already exceeds any cap; clamping the exponent keeps the arithmetic finite.
  const exponential = policy.baseMs * 2 ** Math.min(failures - 1, 60);
  const ceiling = Math.min(policy.capMs, exponential);
  return Math.round(ceiling * (1 - policy.jitter * random()));
}
