/**
 * NATS-style subjects: dot-separated tokens; in a pattern `*` matches exactly one token and a
 * final `>` matches one or more. `a.*.c` matches `a.b.c`; `a.>` matches `a.b` and `a.b.c`.
 */
export type SubjectMatcher = (subject: string) => boolean;

/** Throws on an empty token or a `>` that is not last, as a NATS server would refuse them. */
export function compileSubjectPattern(pattern: string): SubjectMatcher {
  const tokens = pattern.split(".");
  tokens.forEach((token, i) => {
    if (token === "") throw new Error(`invalid subject pattern '${pattern}': empty token`);
    if (token === ">" && i !== tokens.length - 1)
      throw new Error(`invalid subject pattern '${pattern}': '>' must be the last token`);
  });
  if (!pattern.includes("*") && !pattern.includes(">")) return (subject) => subject === pattern;
  const tail = tokens[tokens.length - 1] === ">";
  const fixed = tail ? tokens.slice(0, -1) : tokens;
  return (subject) => {
    const parts = subject.split(".");
    if (tail ? parts.length <= fixed.length : parts.length !== fixed.length) return false;
    for (let i = 0; i < fixed.length; i++) {
      const want = fixed[i];
      if (want !== "*" && want !== parts[i]) return false;
    }
    return true;
  };
}

/** True when `subject` matches `pattern`. Compiles each call; hold a compiled matcher in hot paths. */
export function subjectMatches(pattern: string, subject: string): boolean {
  return compileSubjectPattern(pattern)(subject);
}

/** Makes a value safe as one subject token: dots, spaces and wildcards become `_`. */
export function subjectToken(value: string): string {
  const token = value.replace(/[.\s*>]/g, "_");
  return token === "" ? "_" : token;
}
