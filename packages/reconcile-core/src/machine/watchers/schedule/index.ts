import { CronExpressionParser } from "cron-parser";
import { z } from "zod";
import { DurationSchema, durationMs } from "../../duration.js";
import { defineWatcherType } from "../watcher.js";

const cronSchema = z.string().refine(
  (expr) => {
    try {
      CronExpressionParser.parse(expr);
      return true;
    } catch {
      return false;
    }
  },
  { message: "not a valid cron expression" },
);

const ScheduleProperties = z
  .object({
    duration: DurationSchema.describe("How long the schedule stays on after each cron time"),
    schedules: z
      .array(cronSchema)
      .min(1)
      .describe("Cron expressions (5 fields, or 6 with seconds)"),
    start_splay: DurationSchema.optional().describe(
      "Wait a random 0..start_splay after a window opens before firing success_transition",
    ),
  })
  .strict();

/** When `now` falls inside a window opened by any cron time, the end of the latest such window. */
export function scheduleWindowEnd(
  schedules: string[],
  durationMsValue: number,
  now: Date,
): number | undefined {
  let end: number | undefined;
  for (const expr of schedules) {
    const previous = CronExpressionParser.parse(expr, { currentDate: new Date(now.getTime() + 1) })
      .prev()
      .getTime();
    const windowEnd = previous + durationMsValue;
    if (windowEnd > now.getTime()) end = Math.max(end ?? 0, windowEnd);
  }
  return end;
}

function nextStart(schedules: string[], now: Date): number {
  return Math.min(
    ...schedules.map((expr) =>
      CronExpressionParser.parse(expr, { currentDate: now }).next().getTime(),
    ),
  );
}

/**
 * On inside a window of `duration` after each cron time, off outside: turning on fires
 * success_transition and turning off fail_transition (and the current one when it becomes active).
 */
export const scheduleWatcher = defineWatcherType({
  type: "schedule",
  choriaOnlyProperties: ["skip_trigger_on_reenter"],
  properties: ScheduleProperties,
  summarize: (d) => `schedule: ${d.state}`,
  create(ctx, props) {
    const windowMs = durationMs(props.duration);
    const splayMaxMs = props.start_splay ? durationMs(props.start_splay) : 0;
    let timer: NodeJS.Timeout | undefined;
    let splayTimer: NodeJS.Timeout | undefined;
    let on: boolean | undefined;
    let stopped = false;

    const evaluate = (announce: boolean) => {
      clearTimeout(timer);
      if (stopped) return;
      const now = new Date();
      const end = scheduleWindowEnd(props.schedules, windowMs, now);
      const nowOn = end !== undefined;
      if ((nowOn !== on || announce) && ctx.active()) {
        const run = {
          outcome: nowOn ? "success" : "fail",
          details: {
            state: nowOn ? "on" : "off",
            ...(end ? { until: new Date(end).toISOString() } : {}),
          },
        } as const;
        // Choria's start_splay spreads a fleet's starts: only a window opening is delayed.
        const splayMs = nowOn && splayMaxMs > 0 ? Math.random() * splayMaxMs : 0;
        if (splayMs > 0) {
          clearTimeout(splayTimer);
          splayTimer = setTimeout(() => {
            if (!stopped && on && ctx.active()) ctx.report(run);
          }, splayMs);
          splayTimer.unref();
        } else ctx.report(run);
      }
      on = nowOn;
      const wake =
        Math.min(end ?? Number.POSITIVE_INFINITY, nextStart(props.schedules, now)) - now.getTime();
      // Timers cap out at ~24.8 days; waking early just re-evaluates.
      timer = setTimeout(() => evaluate(false), Math.max(10, Math.min(wake, 2 ** 31 - 1)));
      timer.unref();
    };

    return {
      activeChanged(active) {
        evaluate(active);
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
        clearTimeout(splayTimer);
      },
    };
  },
});
