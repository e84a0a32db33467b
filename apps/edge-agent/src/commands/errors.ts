import { CliError } from "@org/cli";

/**
 * A command's failure with a stable `code` and `details`: `runProgram` prints its message on
 * stderr and, under `--json`, `{error: code, message, details}` on stdout.
 */
export class CommandError extends CliError {
  override name = "CommandError";
  constructor(code: string, message: string, details: Record<string, unknown> = {}, exitCode = 1) {
    super(message, exitCode, code, details);
  }
}
