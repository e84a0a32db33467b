import { parse } from "@marcbachmann/cel-js";
import { z } from "zod";
import { defineWatcherType } from "../watcher.js";

const ExpressionProperties = z
  .object({
    success_when: z
      .string()
      .min(1)
      .optional()
      .describe("CEL expression over data, facts and machine; true fires success_transition"),
    fail_when: z.string().min(1).optional().describe("CEL expression; true fires fail_transition"),
  })
  .strict()
  .refine((p) => p.success_when !== undefined || p.fail_when !== undefined, {
    message: "set success_when, fail_when or both",
  });

/** Compiles a CEL expression; returns the error message when it does not parse. */
function compile(expression: string): ReturnType<typeof parse> | string {
  try {
    return parse(expression);
  } catch (err) {
    return (err as Error).message.split("\n")[0] ?? String(err);
  }
}

/**
 * Evaluates CEL expressions (Google's Common Expression Language: no loops, no I/O, no access
 * beyond the variables given) over `data`, `facts` and `machine`. A true `success_when` fires
 * success_transition, else a true `fail_when` fires fail_transition; a transition fires when
 * the result changes or the watcher becomes active.
 */
export const expressionWatcher = defineWatcherType({
  type: "expression",
  properties: ExpressionProperties,
  defaultIntervalMs: 10_000,
  validate(spec, props) {
    return [props.success_when, props.fail_when]
      .filter((e): e is string => e !== undefined)
      .map(compile)
      .filter((r): r is string => typeof r === "string")
      .map((message) => `invalid expression in watcher ${spec.name}: ${message}`);
  },
  summarize: (d) => `expression: ${d.result ?? d.error}`,
  create(ctx, props) {
    const success = props.success_when === undefined ? undefined : compile(props.success_when);
    const fail = props.fail_when === undefined ? undefined : compile(props.fail_when);
    let previous: string | undefined;
    const test = (expr: typeof success, variables: Record<string, unknown>) => {
      if (expr === undefined) return false;
      if (typeof expr === "string") throw new Error(expr);
      const value = expr(variables);
      if (typeof value !== "boolean")
        throw new Error(`expression gave ${typeof value}, not a boolean`);
      return value;
    };
    return {
      activeChanged(active) {
        if (!active) previous = undefined;
      },
      async run() {
        const variables = {
          data: ctx.data.all(),
          facts: ctx.facts(),
          machine: { name: ctx.machine.name },
        };
        let outcome: "success" | "fail" | "unchanged";
        try {
          outcome = test(success, variables)
            ? "success"
            : test(fail, variables)
              ? "fail"
              : "unchanged";
        } catch (err) {
          previous = undefined;
          return { outcome: "error", details: { error: (err as Error).message } };
        }
        const changed = outcome !== previous;
        previous = outcome;
        return { outcome: changed ? outcome : "unchanged", details: { result: outcome } };
      },
      stop() {},
    };
  },
});
