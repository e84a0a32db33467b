import type { Condition, ConditionType, ResourceStatus } from "../resource/status.js";

export interface ConditionInputs {
  resources: Iterable<[string, ResourceStatus]>;
  /** Resources of the applied generation not yet reconciled once. */
  pending: number;
  rolledBack?: { from: number; to: number; reason: string };
}

type Verdict = Omit<Condition, "lastTransitionTime">;

const MAX_NAMED = 5;
const named = (ids: string[]) =>
  ids.slice(0, MAX_NAMED).join(", ") +
  (ids.length > MAX_NAMED ? `, and ${ids.length - MAX_NAMED} more` : "");

/** Ready, Reconciling, Degraded (and RolledBack when it applies) from the resource states. */
export function evaluateConditions({ resources, pending, rolledBack }: ConditionInputs): Verdict[] {
  let total = 0;
  let ready = 0;
  let busy = 0;
  const failed: string[] = [];
  const unknown: string[] = [];
  for (const [id, status] of resources) {
    total++;
    if (status.state === "Ready") ready++;
    else if (status.state === "Failed") failed.push(id);
    else if (status.state === "Unknown") unknown.push(id);
    else busy++;
  }
  const allReady = ready === total && pending === 0;
  const verdicts: Verdict[] = [
    {
      type: "Ready",
      status: allReady ? "True" : "False",
      reason: allReady ? "AllResourcesReady" : "ResourcesNotReady",
      message: `${ready}/${total} resources ready`,
    },
    {
      type: "Reconciling",
      status: busy > 0 || pending > 0 ? "True" : "False",
      reason: busy > 0 || pending > 0 ? "Progressing" : "Idle",
      message: `${busy} in progress`,
    },
    {
      type: "Degraded",
      status: failed.length + unknown.length > 0 ? "True" : "False",
      reason:
        failed.length > 0 ? "ResourcesFailed" : unknown.length > 0 ? "UnknownKinds" : "AsExpected",
      message:
        [
          failed.length > 0 ? `failed: ${named(failed)}` : "",
          unknown.length > 0 ? `unknown: ${named(unknown)}` : "",
        ]
          .filter(Boolean)
          .join("; ") || undefined,
    },
  ];
  if (rolledBack) {
    verdicts.push({
      type: "RolledBack",
      status: "True",
      reason: "GenerationFailed",
      message: `generation ${rolledBack.from} rolled back to ${rolledBack.to}: ${rolledBack.reason}`,
    });
  }
  return verdicts.map((v) =>
    v.message === undefined ? (({ message: _, ...rest }) => rest)(v) : v,
  );
}

/** Keeps `lastTransitionTime` of a condition whose status did not change. */
export function stampConditions(
  verdicts: Verdict[],
  previous: ReadonlyMap<ConditionType, Condition>,
  now: string,
): Condition[] {
  return verdicts.map((v) => {
    const before = previous.get(v.type);
    return {
      ...v,
      lastTransitionTime: before && before.status === v.status ? before.lastTransitionTime : now,
    };
  });
}
