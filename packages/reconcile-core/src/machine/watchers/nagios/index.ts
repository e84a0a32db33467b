import { z } from "zod";
import { DurationSchema, durationMs } from "../../duration.js";
import { commandProblem, runCommand } from "../command.js";
import { defineWatcherType } from "../watcher.js";

const STATUS = ["OK", "WARNING", "CRITICAL", "UNKNOWN"] as const;

const NagiosProperties = z
  .object({
    plugin: z.string().min(1).describe("A Nagios plugin command line"),
    timeout: DurationSchema.default("10s"),
    environment: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, "entries look like NAME=value"))
      .default([]),
  })
  .strict();

export interface PerfData {
  label: string;
  value: number;
  unit: string;
  warning?: string;
  critical?: string;
  min?: number;
  max?: number;
}

/** Splits plugin output into its text and perfdata (`label=value[unit];warn;crit;min;max ...`). */
export function parseNagiosOutput(stdout: string): { output: string; perfdata: PerfData[] } {
  const first = stdout.split("\n")[0] ?? "";
  const bar = first.indexOf("|");
  const output = (bar === -1 ? first : first.slice(0, bar)).trim();
  const perfdata: PerfData[] = [];
  if (bar !== -1) {
    for (const m of first
      .slice(bar + 1)
      .matchAll(
        /('[^']+'|[^\s=]+)=([-\d.]+)([^;\s]*)(?:;([^;\s]*))?(?:;([^;\s]*))?(?:;([^;\s]*))?(?:;([^;\s]*))?/g,
      )) {
      const value = Number(m[2]);
      if (Number.isNaN(value)) continue;
      perfdata.push({
        label: m[1]!.replace(/^'|'$/g, ""),
        value,
        unit: m[3] ?? "",
        ...(m[4] ? { warning: m[4] } : {}),
        ...(m[5] ? { critical: m[5] } : {}),
        ...(m[6] ? { min: Number(m[6]) } : {}),
        ...(m[7] ? { max: Number(m[7]) } : {}),
      });
    }
  }
  return { output, perfdata };
}

/**
 * Runs a Nagios plugin: exit codes 0/1/2/3 fire the transitions named OK, WARNING, CRITICAL
 * and UNKNOWN (anything else, or a plugin that cannot run, is UNKNOWN). A transition fires when
 * the status changes or the watcher becomes active; output and perfdata are announced.
 */
export const nagiosWatcher = defineWatcherType({
  type: "nagios",
  choriaOnlyProperties: [
    "builtin",
    "gossfile",
    "annotations",
    "last_message",
    "pubcert_expire",
    "token_expire",
  ],
  properties: NagiosProperties,
  defaultIntervalMs: 60_000,
  runsCommands: true,
  summarize: (d) => `${d.status}: ${d.output}`,
  validate(spec, props) {
    const problem = commandProblem(props.plugin);
    return problem ? [`invalid plugin for nagios watcher ${spec.name}: ${problem}`] : [];
  },
  create(ctx, props) {
    let previous: string | undefined;
    return {
      activeChanged(active) {
        if (!active) previous = undefined;
      },
      async run(signal) {
        const result = await runCommand(ctx, props.plugin, {
          timeoutMs: durationMs(props.timeout),
          environment: props.environment,
          signal,
        });
        const code =
          result.exitCode !== undefined && result.exitCode >= 0 && result.exitCode <= 3
            ? result.exitCode
            : 3;
        const status = STATUS[code]!;
        const { output, perfdata } = parseNagiosOutput(result.stdout);
        const details = {
          plugin: props.plugin,
          status,
          status_code: code,
          output: result.error ?? output,
          perfdata,
        };
        const changed = status !== previous;
        previous = status;
        return {
          outcome: code === 0 ? "success" : "fail",
          ...(changed ? { transition: status } : {}),
          details,
        };
      },
      stop() {},
    };
  },
});
