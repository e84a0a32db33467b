import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AgentConfigSchema } from "../src/config.js";

const deploy = new URL("../deploy/", import.meta.url).pathname;

describe("device deployment files", () => {
  it("the example config is a valid agent config", async () => {
    const config = AgentConfigSchema.parse(
      parse(await readFile(`${deploy}agent.example.yaml`, "utf8")),
    );
    expect(config).toMatchObject({
      id: "pi-7",
      trust: { requireSignature: true },
      scripts: { allowed: false },
    });
  });

  it("the systemd unit starts the agent with that config and restarts it", async () => {
    const unit = await readFile(`${deploy}edge-agent.service`, "utf8");
    expect(unit).toContain(
      "ExecStart=/usr/local/bin/edge-agent run --config /etc/edge-agent/agent.yaml",
    );
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
  });
});
