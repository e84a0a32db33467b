import { z } from "zod";
import { DurationSchema, durationMs } from "../../duration.js";
import { commandProblem, runCommand } from "../command.js";
import { defineWatcherType } from "../watcher.js";

const ExecProperties = z
  .object({
    command: z
      .string()
      .min(1)
      .describe("Command line, split like a shell would but run without one"),
    timeout: DurationSchema.default("10s"),
    environment: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, "entries look like NAME=value"))
      .default([]),
    parse_as_data: z
      .boolean()
      .default(false)
      .describe("Store the command's JSON output (an object) in machine data"),
  })
  .strict();

/** Runs a command: exit 0 fires success_transition, anything else fail_transition. */
export const execWatcher = defineWatcherType({
  type: "exec",
  choriaOnlyProperties: [
    "governor",
    "governor_timeout",
    "suppress_success_announce",
    "gather_initial_state",
    "disown",
  ],
  properties: ExecProperties,
  defaultIntervalMs: 60_000,
  runsCommands: true,
  // The run's failure reason follows the command, so a human line says why it failed.
  summarize: (d) => `command: ${d.command}${failureReason(d)}`,
  validate(spec, props) {
    const problem = commandProblem(props.command);
    return problem ? [`invalid command for exec watcher ${spec.name}: ${problem}`] : [];
  },
  create(ctx, props) {
    return {
      async run(signal) {
        const result = await runCommand(ctx, props.command, {
          timeoutMs: durationMs(props.timeout),
          environment: props.environment,
          signal,
        });
        const details: Record<string, unknown> = {
          command: props.command,
          ...(result.exitCode === undefined ? {} : { exit_code: result.exitCode }),
          ...(result.error ? { error: result.error } : {}),
          ...(result.stderr ? { stderr: result.stderr.slice(0, 1024) } : {}),
        };
        if (result.exitCode !== 0) return { outcome: "fail", details };
        if (props.parse_as_data) {
          try {
            const parsed: unknown = JSON.parse(result.stdout);
            if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
              throw new Error("output is not a JSON object");
            ctx.data.merge(parsed as Record<string, unknown>);
          } catch (err) {
            return {
              outcome: "fail",
              details: { ...details, error: `parse_as_data: ${(err as Error).message}` },
            };
          }
        }
        return { outcome: "success", details };
      },
      stop() {},
    };
  },
});

/** `, exit code 3: <last stderr line>`, `, error: command not found: x`, or nothing on success. */
function failureReason(d: Record<string, unknown>): string {
  if (typeof d.error === "string") return `, error: ${d.error}`;
  if (typeof d.exit_code !== "number" || d.exit_code === 0) return "";
  const stderr = typeof d.stderr === "string" ? d.stderr.trim().split("\n").at(-1) : undefined;
  return `, exit code ${d.exit_code}${stderr ? `: ${stderr}` : ""}`;
}
