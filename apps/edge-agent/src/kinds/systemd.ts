import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { defineKind, TerminalError } from "@org/reconcile-core";
import { writeFileAtomic } from "@org/reconcile-core/internal";
import { z } from "zod";

/** The few systemctl calls the kind makes, behind an interface so other service managers (or tests) can stand in. */
export interface Systemctl {
  /** Runs `systemctl args...`; resolves with the exit code (never rejects for a non-zero exit). */
  run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * The real `systemctl`. `command` is the binary, or a command line that ends in it, so a systemd
 * reached another way is managed the same way: `["docker", "exec", "box", "systemctl"]`,
 * `["ssh", "pi@device", "systemctl"]`, `["systemctl", "--user"]`.
 */
export function systemctlCommand(
  command: string | readonly string[] = "systemctl",
  options: { timeoutMs?: number } = {},
): Systemctl {
  const [binary, ...prefix] = typeof command === "string" ? [command] : command;
  if (!binary) throw new Error("systemctl command is empty: give a binary such as systemctl");
  return {
    run: (args) =>
      new Promise((resolve) => {
        execFile(
          binary,
          [...prefix, ...args],
          { timeout: options.timeoutMs ?? 60_000 },
          (err, stdout, stderr) => {
            const code = err
              ? typeof (err as { code?: unknown }).code === "number"
                ? (err as { code: number }).code
                : 127
              : 0;
            resolve({ code, stdout, stderr: stderr || (err && code === 127 ? err.message : "") });
          },
        );
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

/** What systemd says of a unit (`systemctl show`), the properties the kind decides from. */
const UnitStateSchema = z.object({
  LoadState: z.string().describe("loaded, not-found, masked, error"),
  ActiveState: z.string().describe("active, reloading, inactive, failed, activating, deactivating"),
  SubState: z.string().describe("running, exited, dead, failed, auto-restart, ..."),
  Result: z
    .string()
    .describe("success, exit-code, signal, core-dump, timeout, start-limit-hit, ..."),
  MainPID: z.coerce.number().int(),
  ExecMainCode: z.coerce.number().int().describe("1 exited, 2 killed, 3 dumped core"),
  ExecMainStatus: z.coerce.number().int().describe("exit status, or signal number"),
  NRestarts: z.coerce.number().int(),
});
export type UnitState = z.infer<typeof UnitStateSchema>;
const SHOWN = Object.keys(UnitStateSchema.shape);

/** What `observe` saw of a unit: its file on disk and what systemd says of it. */
export interface ObservedUnit {
  name: string;
  /** SHA-256 of the unit file; absent when there is no file. */
  sha256?: string;
  enabled: boolean;
  /** `systemctl is-enabled` says: enabled, disabled, static, masked, not-found, ... */
  enablement: string;
  /** Running, or on its way (activating, reloading): nothing to start. */
  active: boolean;
  state: UnitState;
}

const sha256 = (text: string | Buffer) => createHash("sha256").update(text).digest("hex");
const isRunning = (state: UnitState) =>
  state.ActiveState === "active" ||
  state.ActiveState === "reloading" ||
  state.ActiveState === "activating";

/** systemd's own exit codes for a service that could not even be started (systemd.exec(5)). */
const SYSTEMD_EXIT: Record<number, string> = {
  200: "CHDIR: the WorkingDirectory is missing",
  203: "EXEC: the ExecStart program could not be run (missing or not executable)",
  209: "STDOUT: standard output could not be set up",
  216: "GROUP: the Group does not exist",
  217: "USER: the User does not exist",
};

/** systemd's reason a unit is down, in its own words: `Result=exit-code, status=3`. */
export function describeUnitFailure(state: UnitState): string {
  const parts = [`Result=${state.Result}`];
  if (state.ExecMainCode === 1) {
    const known = SYSTEMD_EXIT[state.ExecMainStatus];
    parts.push(`status=${state.ExecMainStatus}${known ? `/${known}` : ""}`);
  } else if (state.ExecMainCode === 2 || state.ExecMainCode === 3) {
    const signal = Object.entries(constants.signals).find(([, n]) => n === state.ExecMainStatus);
    parts.push(
      `${state.ExecMainCode === 3 ? "dumped core on" : "killed by"} signal ${signal?.[0] ?? state.ExecMainStatus}`,
    );
  }
  if (state.NRestarts > 0) parts.push(`restarted ${state.NRestarts} times by systemd`);
  return `${parts.join(", ")} (ActiveState=${state.ActiveState}, SubState=${state.SubState})`;
}

/**
 * The `SystemdUnit` kind: the unit file's content, whether it is enabled, and whether it runs.
 * A changed unit file is followed by `daemon-reload` and, when it should run, a restart. A unit
 * that should run and crashed is `Failed` with systemd's reason and started again on the
 * controller's backoff (a crash loop's own restarts are left to the unit's `Restart=`).
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
  const show = async (name: string): Promise<UnitState> => {
    const r = await ctl.run(["show", `--property=${SHOWN.join(",")}`, "--", name]);
    if (r.code !== 0)
      throw new Error(
        `systemctl show ${name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}; is systemd running and systemctl reachable?`,
      );
    const fields = Object.fromEntries(
      r.stdout
        .split("\n")
        .filter((line) => line.includes("="))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
    const parsed = UnitStateSchema.safeParse(fields);
    if (!parsed.success)
      throw new Error(
        `systemctl show ${name} gave no ${parsed.error.issues.map((i) => i.path.join(".")).join(", ")}: ${JSON.stringify(r.stdout.trim())}; systemd 235 or newer is needed`,
      );
    return parsed.data;
  };
  /** start/restart; a unit that fails to start says why in systemd's words. */
  const act = async (verb: "start" | "restart", name: string) => {
    const r = await ctl.run([verb, name]);
    if (r.code === 0) return;
    const reason = await show(name).then(describeUnitFailure, () => "");
    throw new Error(
      `systemctl ${verb} ${name} failed (exit ${r.code})${reason ? `: ${reason}` : ""}: ${(r.stderr || r.stdout).trim()} See journalctl -u ${name}.`,
    );
  };
  /** Stops, disables and removes a unit; each step may find nothing to do, only the reload must work. */
  const remove = async (name: string) => {
    await ctl.run(["stop", name]);
    await ctl.run(["disable", name]);
    await rm(join(unitDir, name), { force: true });
    await must(["daemon-reload"]);
    await ctl.run(["reset-failed", name]);
  };
  // The unit each id last wrote: the controller hands `delete` only a spec that converged, and
  // a unit that never did (it failed to start) or was renamed must not be left behind.
  const written = new Map<string, string>();
  return defineKind({
    name: "SystemdUnit",
    specSchema: SystemdUnitSpecSchema,
    reconciler: {
      async observe(_id, _ctx, desired): Promise<ObservedUnit | undefined> {
        if (!desired) return undefined;
        const { name } = desired.spec;
        const file = await readFile(join(unitDir, name)).catch(() => undefined);
        // is-enabled reads the disk; show's UnitFileState is the manager's cached view.
        const [enabled, state] = await Promise.all([ctl.run(["is-enabled", name]), show(name)]);
        return {
          name,
          ...(file === undefined ? {} : { sha256: sha256(file) }),
          enabled: enabled.code === 0,
          enablement: enabled.stdout.trim() || "not-found",
          active: isRunning(state),
          state,
        };
      },

      async reconcile({ id, spec }, observed) {
        if (!/^\s*\[/m.test(spec.content))
          throw new TerminalError(`unit ${spec.name} has no [Section]: not a unit file`);
        if (observed?.name !== spec.name)
          throw new Error(
            `unit ${spec.name} was not observed before its reconcile (observe needs the desired resource)`,
          );
        const renamedFrom = written.get(id);
        if (renamedFrom !== undefined && renamedFrom !== spec.name) await remove(renamedFrom);
        written.set(id, spec.name);
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
        const details = { unit: spec.name, enabled: spec.enabled, active: spec.active };
        if (shouldRun && observed.state.SubState === "auto-restart" && !fileChanged)
          // Its own Restart= is bringing it back: say so, and leave the restarts to systemd.
          throw new Error(
            `unit ${spec.name} keeps crashing: ${describeUnitFailure(observed.state)}. See journalctl -u ${spec.name}.`,
          );
        if (shouldRun && observed.state.ActiveState === "failed" && !fileChanged) {
          await act("start", spec.name);
          throw new Error(
            `unit ${spec.name} had failed: ${describeUnitFailure(observed.state)}; started it again. See journalctl -u ${spec.name}.`,
          );
        }
        if (shouldRun && !observed.active) await act("start", spec.name);
        else if (shouldRun && fileChanged && existed) await act("restart", spec.name);
        else if (!shouldRun && observed.active) await must(["stop", spec.name]);
        return {
          changed:
            fileChanged || spec.enabled !== observed.enabled || shouldRun !== observed.active,
          details,
        };
      },

      async delete(id, spec) {
        for (const name of new Set([spec?.name, written.get(id)]))
          if (name !== undefined) await remove(name);
        written.delete(id);
      },
    },
  });
}
