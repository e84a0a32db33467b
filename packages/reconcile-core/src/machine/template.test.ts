import { describe, expect, it } from "vitest";
import { renderTemplate, templateError } from "./template.js";

const input = { data: { port: 8080, app: { image: "web:1" } }, facts: { os: { name: "debian" } } };

describe("machine templates", () => {
  it("looks up data and facts by path, with defaults", () => {
    expect(renderTemplate('./deploy.sh --port {{ lookup "data.port" "80" }}', input)).toBe(
      "./deploy.sh --port 8080",
    );
    expect(
      renderTemplate('{{lookup "data.app.image" "none"}} on {{ lookup "facts.os.name" }}', input),
    ).toBe("web:1 on debian");
    expect(renderTemplate('{{ lookup "data.missing" "fallback" }}', input)).toBe("fallback");
    expect(renderTemplate('{{ lookup "data.missing" 5 }}', input)).toBe("5");
    expect(renderTemplate('{{ lookup "data.missing" }}', input)).toBe("");
    expect(renderTemplate('{{ lookup "data.app" }}', input)).toBe('{"image":"web:1"}');
  });

  it("leaves text without templates alone", () => {
    expect(renderTemplate("plain text", input)).toBe("plain text");
  });

  it("refuses anything but lookup, naming it", () => {
    expect(templateError("{{ .Data.port }}")).toContain(
      "unsupported template expression '{{ .Data.port }}'",
    );
    expect(templateError('{{ exec "rm -rf /" }}')).toContain("unsupported");
    expect(templateError('{{ lookup "data.x" "d" }}')).toBeUndefined();
  });
});
