import { createHash } from "node:crypto";

/** A value that survives a JSON round trip unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * Canonical JSON (the RFC 8785 shape): object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as `JSON.stringify` writes them. Two values that are equal
 * as JSON always give the same text, whatever order their keys were built in, so the text can
 * be hashed for change detection and signed.
 *
 * `undefined` object members are dropped (as JSON.stringify does); non-finite numbers,
 * `undefined` at the top level or in arrays, functions, symbols and bigints are refused
 * instead of being silently rewritten.
 */
export function canonicalJson(value: unknown): string {
  const trail: Array<string | number> = [];
  try {
    return write(value, trail);
  } catch (err) {
    if (err instanceof NotJson) {
      const path = trail.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
      throw new TypeError(`canonicalJson: $${path} is ${err.message}`);
    }
    throw err;
  }
}

class NotJson extends Error {}

// Plain loops and concatenation: this runs for every spec of every manifest. `trail` is the
// path to the value being written, kept only so that an error can say where it is.
function write(value: unknown, trail: Array<string | number>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new NotJson(`${value}, not a JSON number`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          trail.push(i);
          out += (i === 0 ? "" : ",") + write(value[i], trail);
          trail.pop();
        }
        return `${out}]`;
      }
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = "{";
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        trail.push(key);
        out += `${first ? "" : ","}${JSON.stringify(key)}:${write(member, trail)}`;
        trail.pop();
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new NotJson(`a ${typeof value}, which JSON cannot hold`);
  }
}

/** Hex SHA-256 of the canonical JSON of `value`: equal JSON values, equal hashes. */
export function canonicalHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}
