import { splitCommand } from "@org/reconcile-core/internal";

/** Splits a shell-style command string into argv, as the spec formats allow. */
export function commandArgv(command: string | string[]): string[] {
  return typeof command === "string" ? splitCommand(command) : command;
}
