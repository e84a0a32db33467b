import { describe, expect, it } from "vitest";
import { decodeYaml } from "./yaml.js";

const message = (text: string) => {
  const decoded = decodeYaml(text);
  if (decoded.ok) throw new Error("expected a YAML error");
  return decoded.message;
};

describe("decodeYaml", () => {
  it("decodes YAML and JSON", () => {
    expect(decodeYaml("a: 1\nb: [x]\n")).toEqual({ ok: true, value: { a: 1, b: ["x"] } });
    expect(decodeYaml('{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it("says what is wrong, where, and quotes the offending line, on one line", () => {
    const m = message("resources:\n  - kind: File\n    id: a\n   spec: {x: 1}\n");
    expect(m).toBe('Sequence item without - indicator at line 4, column 1: "   spec: {x: 1}"');
    expect(message("a: b: c\n")).toBe(
      'Nested mappings are not allowed in compact mappings at line 1, column 4: "a: b: c"',
    );
    expect(message("a: 1\na: 2\n")).toBe('Map keys must be unique at line 2, column 1: "a: 2"');
  });

  it("quotes the last line when the error is at the end of the text", () => {
    expect(message("x: [1, 2\n")).toMatch(/ at line 2, column 1, after line 1: "x: \[1, 2"$/);
  });
});
