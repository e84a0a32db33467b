import { readFile, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../../util/atomic-write.js";
import { defineWatcherType } from "../watcher.js";

const FileProperties = z
  .object({
    path: z
      .string()
      .min(1)
      .describe("File to watch, relative to the machine's directory or absolute"),
    gather_initial_state: z
      .boolean()
      .default(false)
      .describe("Take the file as it is at start as unchanged"),
    contents: z.string().optional().describe("Manage the file: keep exactly this content in it"),
    mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, "mode is octal, e.g. 0644")
      .optional()
      .describe("With contents: the file's mode"),
  })
  .strict();

/**
 * Watches a file: a change (or, with `contents`, a repair) fires success_transition, a missing
 * file fires fail_transition; an unchanged file fires nothing.
 */
export const fileWatcher = defineWatcherType({
  type: "file",
  choriaOnlyProperties: ["owner", "group"],
  properties: FileProperties,
  defaultIntervalMs: 10_000,
  summarize: (d) => `file: ${d.path}`,
  create(ctx, props) {
    let previous: string | undefined;
    let first = true;
    const resolvePath = () => {
      const path = ctx.render(props.path);
      return isAbsolute(path) ? path : join(ctx.machine.directory, path);
    };
    const mode = props.mode === undefined ? undefined : Number.parseInt(props.mode, 8);

    return {
      async run() {
        const path = resolvePath();
        const details = { path };
        if (props.contents !== undefined) {
          const wanted = ctx.render(props.contents);
          const [current, info] = await Promise.all([
            readFile(path, "utf8").catch(() => undefined),
            stat(path).catch(() => undefined),
          ]);
          const modeOk = mode === undefined || (info !== undefined && (info.mode & 0o777) === mode);
          if (current === wanted && modeOk) return { outcome: "unchanged", details };
          await writeFileAtomic(path, wanted, mode === undefined ? {} : { mode });
          return { outcome: "success", details: { ...details, managed: true } };
        }
        const info = await stat(path).catch(() => undefined);
        if (!info) {
          previous = undefined;
          first = false;
          return { outcome: "fail", details: { ...details, error: "file does not exist" } };
        }
        const fingerprint = `${info.mtimeMs}:${info.size}:${info.ino}`;
        const initial = first && props.gather_initial_state;
        first = false;
        const changed = fingerprint !== previous;
        previous = fingerprint;
        return { outcome: changed && !initial ? "success" : "unchanged", details };
      },
      stop() {},
    };
  },
});
