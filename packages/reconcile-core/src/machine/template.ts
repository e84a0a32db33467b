/**
 * Machine property templates, the subset of Choria's Go templates that machines use:
 * `{{ lookup "data.key" "default" }}` and `{{ lookup "facts.os.name" }}`, looking values up by
 * dotted path in `{data, facts}`. Anything else inside `{{ }}` is an error, so a typo never
 * reaches a command line unnoticed.
 */
export interface TemplateInput {
  data: Record<string, unknown>;
  facts: Record<string, unknown>;
}

const EXPRESSION = /\{\{\s*(.*?)\s*\}\}/g;
const LOOKUP = /^lookup\s+"([^"]*)"(?:\s+(?:"([^"]*)"|(-?\d+(?:\.\d+)?|true|false)))?$/;

export class TemplateError extends Error {
  override name = "TemplateError";
}

export function hasTemplate(text: string): boolean {
  return text.includes("{{");
}

export function renderTemplate(text: string, input: TemplateInput): string {
  if (!hasTemplate(text)) return text;
  return text.replace(EXPRESSION, (_whole, expression: string) => {
    const match = LOOKUP.exec(expression);
    if (!match)
      throw new TemplateError(
        `unsupported template expression '{{ ${expression} }}': use {{ lookup "data.key" "default" }}`,
      );
    const [, path, quotedDefault, literalDefault] = match;
    const value = lookupPath(input, path!);
    if (value === undefined || value === null) return quotedDefault ?? literalDefault ?? "";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  });
}

/** Checks a template's syntax without data; returns the error message or undefined. */
export function templateError(text: string): string | undefined {
  try {
    renderTemplate(text, { data: {}, facts: {} });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function lookupPath(input: TemplateInput, path: string): unknown {
  let current: unknown = input;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
