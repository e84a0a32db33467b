import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileSubjectPattern, subjectMatches, subjectToken } from "./subject.js";

describe("subject patterns", () => {
  it.each([
    ["a.b.c", "a.b.c", true],
    ["a.b.c", "a.b", false],
    ["a.*.c", "a.x.c", true],
    ["a.*.c", "a.x.y.c", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c.d", true],
    ["a.>", "a", false],
    [">", "anything.at.all", true],
    ["*", "one", true],
    ["*", "one.two", false],
    ["choria.machine.*.pi-7.>", "choria.machine.transition.pi-7.ContainerManager", true],
    ["choria.machine.*.pi-7.>", "choria.machine.transition.pi-8.ContainerManager", false],
  ])("%s vs %s -> %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it("refuses malformed patterns", () => {
    expect(() => compileSubjectPattern("a.>.b")).toThrow("'>' must be the last token");
    expect(() => compileSubjectPattern("a..b")).toThrow("empty token");
  });

  it("a literal pattern matches only itself, and `>` matches anything of its prefix (property)", () => {
    const token = fc.stringMatching(/^[a-z0-9-]{1,5}$/);
    fc.assert(
      fc.property(
        fc.array(token, { minLength: 1, maxLength: 5 }),
        fc.array(token, { minLength: 1, maxLength: 3 }),
        (prefix, rest) => {
          const subject = [...prefix, ...rest].join(".");
          expect(subjectMatches(subject, subject)).toBe(true);
          expect(subjectMatches(`${prefix.join(".")}.>`, subject)).toBe(true);
          expect(subjectMatches(prefix.map(() => "*").join("."), prefix.join("."))).toBe(true);
        },
      ),
    );
  });

  it("subjectToken neutralises separators and wildcards", () => {
    expect(subjectToken("a.b c*>")).toBe("a_b_c__");
    expect(subjectMatches("x.*", `x.${subjectToken("pi.7.>")}`)).toBe(true);
  });
});
