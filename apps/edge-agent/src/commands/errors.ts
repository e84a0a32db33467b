import { CliError } from "@org/cli";

/** A command's failure with a stable `code` and `details`, so `--json` can print it as data. */
export class CommandError extends CliError {
  override name = "CommandError";
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    exitCode = 1,
  ) {
    super(message, exitCode);
  }
}

/** The one shape of an error under `--json`. */
export interface ErrorJson {
  error: string;
  message: string;
  details: Record<string, unknown>;
}

export function errorJson(err: unknown): ErrorJson {
  if (err instanceof CommandError)
    return { error: err.code, message: err.message, details: err.details };
  if (err instanceof Error) return { error: err.name, message: err.message, details: {} };
  return { error: "Error", message: String(err), details: {} };
}

/**
 * Runs a command. Under `--json` a failure is also written to stdout as `ErrorJson`, so a
 * script reading stdout gets JSON either way; it is then rethrown, and `runProgram` prints it
 * on stderr and exits with its code.
 */
export async function jsonErrors(
  json: boolean | undefined,
  write: (value: ErrorJson) => void,
  run: () => Promise<number>,
): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (json) write(errorJson(err));
    throw err;
  }
}
