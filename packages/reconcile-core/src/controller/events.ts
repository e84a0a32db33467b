import { z } from "zod";
import { defineEventType } from "../bus/cloudevent.js";
import { ResourceStatusSchema } from "../resource/status.js";

/** A resource changed state (Pending, Reconciling, Ready, Failed, Unknown). */
export const resourceStatusEvent = defineEventType(
  "org.reconcile.resource.status",
  z.object({ id: z.string(), status: ResourceStatusSchema }),
);

/** A resync found a Ready resource drifted and the reconciler repaired it. */
export const driftCorrectedEvent = defineEventType(
  "org.reconcile.resource.drift_corrected",
  z.object({ id: z.string(), kind: z.string(), generation: z.number().int() }),
);

/** Every resource of a generation has been reconciled at least once. */
export const generationObservedEvent = defineEventType(
  "org.reconcile.generation.observed",
  z.object({ generation: z.number().int(), ready: z.number().int(), failed: z.number().int() }),
);

/** A generation kept failing and the controller went back to the last one that converged. */
export const rollbackEvent = defineEventType(
  "org.reconcile.generation.rolled_back",
  z.object({ from: z.number().int(), to: z.number().int(), reason: z.string() }),
);
