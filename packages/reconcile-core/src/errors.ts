import type { z } from "zod";

/** One line per zod issue, `path: message`, joined with "; ": short enough for a status field. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? formatPath(issue.path) : "(root)";
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((part, i) =>
      typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`,
    )
    .join("");
}
