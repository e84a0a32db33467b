import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { diffResources, type Fingerprint } from "./diff.js";

const fingerprints = fc
  .dictionary(
    fc.stringMatching(/^[a-e]{1,2}$/),
    fc.record({ kind: fc.constantFrom("File", "Container"), hash: fc.constantFrom("h1", "h2") }),
  )
  .map((record) => new Map<string, Fingerprint>(Object.entries(record)));

describe("diffResources", () => {
  it("classifies creates, updates, deletes and unchanged", () => {
    const desired = new Map([
      ["a", { kind: "File", hash: "1" }],
      ["b", { kind: "File", hash: "2" }],
      ["c", { kind: "Container", hash: "3" }],
    ]);
    const managed = new Map([
      ["b", { kind: "File", hash: "x" }],
      ["c", { kind: "Container", hash: "3" }],
      ["d", { kind: "File", hash: "4" }],
    ]);
    expect(diffResources(desired, managed)).toEqual({
      create: ["a"],
      update: ["b"],
      delete: ["d"],
      unchanged: ["c"],
    });
  });

  it("treats a changed kind under the same id as an update", () => {
    const diff = diffResources(
      new Map([["a", { kind: "Container", hash: "1" }]]),
      new Map([["a", { kind: "File", hash: "1" }]]),
    );
    expect(diff.update).toEqual(["a"]);
  });

  it("puts every id in exactly one list, and applying the diff yields the desired set (property)", () => {
    fc.assert(
      fc.property(fingerprints, fingerprints, (desired, managed) => {
        const diff = diffResources(desired, managed);
        const all = [...diff.create, ...diff.update, ...diff.delete, ...diff.unchanged];
        expect(new Set(all).size).toBe(all.length);
        expect(new Set(all)).toEqual(new Set([...desired.keys(), ...managed.keys()]));
        // Applying it: drop deletes, add creates, overwrite updates.
        const after = new Map(managed);
        for (const id of diff.delete) after.delete(id);
        for (const id of [...diff.create, ...diff.update]) after.set(id, desired.get(id)!);
        expect(after).toEqual(desired);
      }),
    );
  });

  it("is empty but for unchanged when desired equals managed (property)", () => {
    fc.assert(
      fc.property(fingerprints, (state) => {
        const diff = diffResources(state, new Map(state));
        expect(diff.create.length + diff.update.length + diff.delete.length).toBe(0);
        expect(diff.unchanged.length).toBe(state.size);
      }),
    );
  });
});
