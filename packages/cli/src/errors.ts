import { formatIssues } from "@org/reconcile-core";
import type { z } from "zod";

/**
 * A failure the user can act on: `runProgram` prints its message (no stack) and exits with
 * `exitCode`; under `--json` it prints `{error: code, message, details}` on stdout as well.
 */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
    /** A stable name for scripts (`NatsUnreachable`); default the class name. */
    readonly code?: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A command line that cannot work as given (bad flag value, malformed argument): exit code 2. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 2, "UsageError", details);
  }
}

/** The one shape of an error under `--json`. */
export interface ErrorJson {
  error: string;
  message: string;
  details: Record<string, unknown>;
}

/** Any thrown value as `ErrorJson`: a `CliError`'s code and details, else the error's name. */
export function errorJson(err: unknown): ErrorJson {
  if (err instanceof CliError)
    return { error: err.code ?? err.name, message: err.message, details: err.details };
  if (err instanceof Error) return { error: err.name, message: err.message, details: {} };
  return { error: "Error", message: String(err), details: {} };
}

/**
 * A zod failure on `input` (a file name, a flag, "manifest") as one line: which input, each
 * field with its problem, and, when given, what to do about it.
 */
export function invalidInput(input: string, error: z.ZodError, hint?: string): UsageError {
  return new UsageError(`${input}: ${formatIssues(error)}${hint ? ` (${hint})` : ""}`);
}
