import { execFile } from "node:child_process";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defineKind, TerminalError } from "@org/reconcile-core";
import { z } from "zod";

/** The few systemctl calls the kind makes, behind an interface so other service managers (or tests) can stand in. */
export interface Systemctl {
  /** Runs `systemctl args...`; resolves with the exit code (never rejects for a non-zero exit). */
  run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** The real `systemctl` binary. */
export function systemctlCommand(binary = "systemctl"): Systemctl {
  return {
    run: (args) =>
      new Promise((resolve) => {
        execFile(binary, args, { timeout: 60_000 }, (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === "number"
              ? (err as { code: number }).code
              : 127
            : 0;
          resolve({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : "") });
        });
      }),
  };
}

export const SystemdUnitSpecSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9@._-]+\.(service|timer|socket|path|target|mount)$/,
        "a unit file name such as app.service",
      ),
    content: z.string().min(1).describe("The unit file"),
    enabled: z.boolean().default(true),
    active: z.enum(["running", "stopped"]).default("running"),
  })
  .strict();

export type SystemdUnitSpec = z.infer<typeof SystemdUnitSpecSchema>;

/**
 * The `SystemdUnit` kind: the unit file's content, whether it is enabled, and whether it runs.
 * A changed unit file is followed by `daemon-reload` and, when it should run, a restart.
 */
export function systemdUnitKind(options: { systemctl: Systemctl; unitDir?: string }) {
  const unitDir = options.unitDir ?? "/etc/systemd/system";
  const ctl = options.systemctl;
  const must = async (args: string[]) => {
    const r = await ctl.run(args);
    if (r.code !== 0)
      throw new Error(
        `systemctl ${args.join(" ")} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`,
      );
  };
  return defineKind({
    name: "SystemdUnit",
    spec: SystemdUnitSpecSchema,
    reconciler: {
      observe: async () => undefined,

      async reconcile({ spec }) {
        if (!/^\s*\[/m.test(spec.content))
          throw new TerminalError(`unit ${spec.name} has no [Section]: not a unit file`);
        const path = join(unitDir, spec.name);
        const current = await readFile(path, "utf8").catch(() => undefined);
        const fileChanged = current !== spec.content;
        if (fileChanged) {
          await mkdir(unitDir, { recursive: true });
          await writeFile(`${path}.tmp`, spec.content);
          await rename(`${path}.tmp`, path);
          await must(["daemon-reload"]);
        }
        const enabled = (await ctl.run(["is-enabled", spec.name])).code === 0;
        if (spec.enabled !== enabled) await must([spec.enabled ? "enable" : "disable", spec.name]);
        const active = (await ctl.run(["is-active", spec.name])).code === 0;
        const shouldRun = spec.active === "running";
        if (shouldRun && !active) await must(["start", spec.name]);
        else if (shouldRun && fileChanged && current !== undefined)
          await must(["restart", spec.name]);
        else if (!shouldRun && active) await must(["stop", spec.name]);
        return {
          changed: fileChanged || spec.enabled !== enabled || shouldRun !== active,
          details: { unit: spec.name, enabled: spec.enabled, active: spec.active },
        };
      },

      async delete(_id, spec) {
        if (!spec) return;
        await ctl.run(["stop", spec.name]);
        await ctl.run(["disable", spec.name]);
        await rm(join(unitDir, spec.name), { force: true });
        await ctl.run(["daemon-reload"]);
      },
    },
  });
}
