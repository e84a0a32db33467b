import { describe, expect, it } from "vitest";
import { z } from "zod";
import { collect, formatTable, invalidInput, keyValues, UsageError } from "./index.js";

describe("formatTable", () => {
  it("pads every column to its widest cell, two spaces apart, without trailing blanks", () => {
    expect(
      formatTable([
        ["NAME", "STATE", "PORTS"],
        ["web-1", "running", "8080->80/tcp"],
        ["db", "exited (1)", ""],
      ]),
    ).toEqual(["NAME   STATE       PORTS", "web-1  running     8080->80/tcp", "db     exited (1)"]);
  });

  it("treats a short row's missing cells as empty", () => {
    expect(formatTable([["A", "B"], ["long"]])).toEqual(["A     B", "long"]);
  });
});

describe("repeatable flags", () => {
  it("collect appends each occurrence", () => {
    expect(collect("b", collect("a", []))).toEqual(["a", "b"]);
  });

  it("keyValues splits at the first = and names the flag of a malformed pair", () => {
    expect(keyValues("-e", ["A=1", "B=x=y", "C="])).toEqual({ A: "1", B: "x=y", C: "" });
    expect(() => keyValues("-e", ["oops"])).toThrow(new UsageError("-e oops: use NAME=value"));
    expect(() => keyValues("-e", ["=1"])).toThrow(/-e =1: use NAME=value/);
  });
});

describe("invalidInput", () => {
  it("names the input, each field's problem and the hint, as a usage error (exit 2)", () => {
    const result = z.object({ port: z.number(), name: z.string() }).safeParse({ port: "x" });
    if (result.success) throw new Error("expected a failure");
    const err = invalidInput("agent.yaml", result.error, "see examples/agents/");
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(
      /^agent\.yaml: port: .*number.*; name: .*string.* \(see examples\/agents\/\)$/,
    );
  });
});
