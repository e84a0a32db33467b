import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalHash, canonicalJson } from "./canonical.js";

/** Rebuilds every object of `value` with its keys in reverse insertion order. */
function reorder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorder);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reorder(v)]),
    );
  }
  return value;
}

const json = fc.jsonValue();

describe("canonicalJson", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it("is independent of key insertion order (property)", () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(canonicalJson(reorder(value))).toBe(canonicalJson(value));
        expect(canonicalHash(reorder(value))).toBe(canonicalHash(value));
      }),
    );
  });

  it("round-trips: parsing the text and writing it again gives the same text (property)", () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it("gives different hashes to different values (property)", () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        fc.pre(canonicalJson(a) !== canonicalJson(b));
        expect(canonicalHash(a)).not.toBe(canonicalHash(b));
      }),
    );
  });

  it("drops undefined members like JSON.stringify", () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });

  it("refuses values JSON cannot hold, naming where they are", () => {
    expect(() => canonicalJson({ spec: { replicas: Number.NaN } })).toThrow(
      "$.spec.replicas is NaN",
    );
    expect(() => canonicalJson({ a: [1, 10n] })).toThrow("$.a[1] is a bigint");
  });

  it("hashes are SHA-256 hex", () => {
    expect(canonicalHash({})).toBe(
      "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    );
  });
});
