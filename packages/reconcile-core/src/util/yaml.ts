import { parse } from "yaml";

export type Decoded = { ok: true; value: unknown } | { ok: false; message: string };

/** Decodes YAML or JSON text (JSON is YAML; duplicate keys are errors). Never throws; the message is the parser's first line. */
export function decodeYaml(text: string): Decoded {
  try {
    return { ok: true, value: parse(text, { uniqueKeys: true }) };
  } catch (err) {
    return { ok: false, message: (err as Error).message.split("\n")[0] ?? String(err) };
  }
}
