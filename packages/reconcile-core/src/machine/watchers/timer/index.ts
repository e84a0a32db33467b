import { z } from "zod";
import { DurationSchema, durationMs } from "../../duration.js";
import { defineWatcherType } from "../watcher.js";

const TimerProperties = z
  .object({
    timer: DurationSchema.describe("How long after entering a matched state the timer expires"),
    splay: z
      .boolean()
      .default(false)
      .describe("Expire at a random time between 0 and `timer` instead"),
  })
  .strict();

/** Starts when the machine enters a matched state; on expiry fires fail_transition. Leaving the states cancels it. */
export const timerWatcher = defineWatcherType({
  type: "timer",
  properties: TimerProperties,
  summarize: (d) => `timer: ${d.timer}`,
  create(ctx, props) {
    let timer: NodeJS.Timeout | undefined;
    const cancel = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    return {
      activeChanged(active) {
        cancel();
        if (!active) return;
        const ms = props.splay ? Math.random() * durationMs(props.timer) : durationMs(props.timer);
        timer = setTimeout(() => {
          timer = undefined;
          if (ctx.active()) ctx.report({ outcome: "fail", details: { timer: props.timer } });
        }, ms);
      },
      stop: cancel,
    };
  },
});
