import { formatIssues } from "@org/reconcile-core";
import type { z } from "zod";

/** A failure the user can act on: `runProgram` prints its message (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A command line that cannot work as given (bad flag value, malformed argument): exit code 2. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string) {
    super(message, 2);
  }
}

/**
 * A zod failure on `input` (a file name, a flag, "manifest") as one line: which input, each
 * field with its problem, and, when given, what to do about it.
 */
export function invalidInput(input: string, error: z.ZodError, hint?: string): UsageError {
  return new UsageError(`${input}: ${formatIssues(error)}${hint ? ` (${hint})` : ""}`);
}
