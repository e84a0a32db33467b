import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { defineKind, TerminalError } from "@org/reconcile-core";
import { writeFileAtomic } from "@org/reconcile-core/internal";
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

/** What `observe` saw of a unit: its file on disk and what systemd says of it. */
export interface ObservedUnit {
  name: string;
  /** SHA-256 of the unit file; absent when there is no file. */
  sha256?: string;
  enabled: boolean;
  active: boolean;
}

const sha256 = (text: string | Buffer) => createHash("sha256").update(text).digest("hex");

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
    specSchema: SystemdUnitSpecSchema,
    reconciler: {
      async observe(_id, _ctx, desired): Promise<ObservedUnit | undefined> {
        if (!desired) return undefined;
        const { name } = desired.spec;
        const file = await readFile(join(unitDir, name)).catch(() => undefined);
        const [enabled, active] = await Promise.all([
          ctl.run(["is-enabled", name]),
          ctl.run(["is-active", name]),
        ]);
        return {
          name,
          ...(file === undefined ? {} : { sha256: sha256(file) }),
          enabled: enabled.code === 0,
          active: active.code === 0,
        };
      },

      async reconcile({ spec }, observed) {
        if (!/^\s*\[/m.test(spec.content))
          throw new TerminalError(`unit ${spec.name} has no [Section]: not a unit file`);
        if (observed?.name !== spec.name)
          throw new Error(
            `unit ${spec.name} was not observed before its reconcile (observe needs the desired resource)`,
          );
        const existed = observed.sha256 !== undefined;
        const fileChanged = observed.sha256 !== sha256(spec.content);
        if (fileChanged) {
          await mkdir(unitDir, { recursive: true });
          await writeFileAtomic(join(unitDir, spec.name), spec.content);
          await must(["daemon-reload"]);
        }
        if (spec.enabled !== observed.enabled)
          await must([spec.enabled ? "enable" : "disable", spec.name]);
        const shouldRun = spec.active === "running";
        if (shouldRun && !observed.active) await must(["start", spec.name]);
        else if (shouldRun && fileChanged && existed) await must(["restart", spec.name]);
        else if (!shouldRun && observed.active) await must(["stop", spec.name]);
        return {
          changed:
            fileChanged || spec.enabled !== observed.enabled || shouldRun !== observed.active,
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
