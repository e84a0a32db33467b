/** What the controller knows of one resource id: its kind and the hash of its spec. */
export interface Fingerprint {
  kind: string;
  hash: string;
}

export interface ManifestDiff {
  /** Desired, not managed yet. */
  create: string[];
  /** Managed, and the desired spec (or kind) differs from the one last applied. */
  update: string[];
  /** Managed, no longer desired: garbage to collect. */
  delete: string[];
  /** Managed and desired with the same spec; still drift-checked on resync. */
  unchanged: string[];
}

/**
 * Diffs desired against managed resources by id. Pure: the controller's apply path and the
 * property tests share it. Each id lands in exactly one list; the order of ids follows the
 * desired map, then the managed map.
 */
export function diffResources(
  desired: ReadonlyMap<string, Fingerprint>,
  managed: ReadonlyMap<string, Fingerprint>,
): ManifestDiff {
  const result: ManifestDiff = { create: [], update: [], delete: [], unchanged: [] };
  for (const [id, want] of desired) {
    const have = managed.get(id);
    if (!have) result.create.push(id);
    else if (have.kind !== want.kind || have.hash !== want.hash) result.update.push(id);
    else result.unchanged.push(id);
  }
  for (const id of managed.keys()) {
    if (!desired.has(id)) result.delete.push(id);
  }
  return result;
}
