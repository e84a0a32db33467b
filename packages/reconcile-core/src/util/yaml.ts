import { parse, YAMLError } from "yaml";

export type Decoded = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * Decodes YAML or JSON text (JSON is YAML; duplicate keys are errors). Never throws. The
 * message is the parser's, on one line, with the offending line of the text quoted:
 * `Nested mappings are not allowed in compact mappings at line 3, column 8: "  a: b: c"`.
 */
export function decodeYaml(text: string): Decoded {
  // Fast path for compact JSON (what `encodeJson` and the CLIs write), ~50x cheaper than the
  // YAML parser: taken only when the value prints back as the very same text, which also
  // proves that no key was duplicated.
  if (text.startsWith("{")) {
    try {
      const value: unknown = JSON.parse(text);
      if (JSON.stringify(value) === text) return { ok: true, value };
    } catch {}
  }
  try {
    return { ok: true, value: parse(text, { uniqueKeys: true }) };
  } catch (err) {
    return { ok: false, message: yamlErrorMessage(err, text) };
  }
}

/** A YAML parser error as one line: what is wrong, where, and the line it is on. */
export function yamlErrorMessage(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : String(err);
  // The parser's message is "<what> at line L, column C:\n\n<excerpt>\n<caret>\n".
  const what = (message.split("\n")[0] ?? message).replace(/:\s*$/, "");
  const line = err instanceof YAMLError ? err.linePos?.[0]?.line : undefined;
  if (line === undefined) return what;
  const lines = text.split(/\r?\n/);
  const source = lines[line - 1];
  if (source !== undefined && source.trim() !== "") return `${what}: ${JSON.stringify(source)}`;
  // At the end of the text (an unclosed bracket or quote) the line is empty: quote the last one.
  for (let n = Math.min(line - 1, lines.length); n >= 1; n--) {
    const previous = lines[n - 1];
    if (previous?.trim()) return `${what}, after line ${n}: ${JSON.stringify(previous)}`;
  }
  return what;
}
