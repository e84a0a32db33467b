import { describe, expect, it } from "vitest";
import { parseManifest, parseManifestText } from "./manifest.js";

describe("parseManifest", () => {
  it("accepts a valid manifest", () => {
    const result = parseManifest({
      generation: 3,
      resources: [{ kind: "File", id: "motd", spec: { path: "/etc/motd" } }],
    });
    expect(result).toEqual({ ok: true, manifest: expect.objectContaining({ generation: 3 }) });
  });

  it("rejects duplicate ids and names every one of them", () => {
    const r = (id: string) => ({ kind: "File", id, spec: {} });
    const result = parseManifest({
      generation: 1,
      resources: [r("a"), r("b"), r("a"), r("c"), r("b")],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toContain("duplicate resource ids: a, b");
  });

  it("names the path of each invalid field and refuses unknown keys", () => {
    const result = parseManifest({
      generation: -1,
      resources: [{ kind: "File", id: "../x", spec: {}, extra: 1 }],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe("invalid");
      expect(result.error.message).toMatch(/generation: /);
      expect(result.error.message).toMatch(/resources\[0\]\.id: /);
      expect(result.error.message).toMatch(/resources\[0\]: .*extra/);
    }
  });

  it("reports YAML syntax errors as parse errors, not exceptions", () => {
    const result = parseManifestText("generation: 1\nresources: [\n");
    expect(result).toMatchObject({ ok: false, error: { code: "parse" } });
  });

  it("reads YAML and JSON alike", () => {
    const yaml = parseManifestText(
      "generation: 2\nresources:\n  - kind: File\n    id: a\n    spec: {path: /x}\n",
    );
    const json = parseManifestText(
      '{"generation":2,"resources":[{"kind":"File","id":"a","spec":{"path":"/x"}}]}',
    );
    expect(yaml).toEqual(json);
    expect(yaml.ok).toBe(true);
  });
});
