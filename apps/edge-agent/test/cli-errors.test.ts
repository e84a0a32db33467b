import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateSigningKey } from "@org/reconcile-core";
import { tempDir } from "@org/reconcile-core/testing";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Cli } from "./cli.js";

/** Operator errors that need no NATS: each says what failed, on which input, and what to do. */
describe("edge-agent errors a user can act on", () => {
  let dir: string;
  const signer = generateSigningKey();

  beforeAll(async () => {
    dir = await tempDir("agent-cli");
    await writeFile(join(dir, "fleet.key"), signer.privateKeyPem);
    await writeFile(join(dir, "fleet.pub"), signer.publicKeyPem);
    await writeFile(join(dir, "manifest.yaml"), stringify({ resources: [] }));
  });

  // The manifest is checked before NATS is dialled: nothing listens on port 1.
  const apply = (...args: string[]) =>
    Cli.run(["apply", "--agent", "pi-1", "--nats", "nats://127.0.0.1:1", ...args]);

  it("a public key given as --sign-key says so and names the private key to give", async () => {
    const { code, stderr } = await apply(
      "-f",
      join(dir, "manifest.yaml"),
      "--sign-key",
      join(dir, "fleet.pub"),
    );
    expect(code).toBe(2);
    expect(stderr.join("\n")).not.toMatch(/DECODER|1E08010C/);
    expect(stderr).toEqual([
      `edge-agent: --sign-key ${join(dir, "fleet.pub")} is a public key; signing needs the private key. Give the NAME.key file that \`edge-agent keygen\` wrote next to fleet.pub (the .pub file goes in the agent's trust.keys).`,
    ]);
  });

  it("a manifest with a YAML error shows the message whole, with the offending line", async () => {
    const file = join(dir, "broken.yaml");
    await writeFile(file, "resources:\n  - kind: File\n    id: motd\n   spec: {}\n");
    const { code, stderr } = await apply("-f", file);
    expect(code).toBe(2);
    expect(stderr).toEqual([
      `edge-agent: ${file}: not valid YAML or JSON: Sequence item without - indicator at line 4, column 1: "   spec: {}"`,
    ]);
  });

  it("--version prints the app's package.json version", async () => {
    const { version } = JSON.parse(
      await readFile(new URL("../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    const { code, stdout } = await Cli.run(["--version"]);
    expect(code).toBe(0);
    expect(stdout[0]).toBe(version);
  });

  it("under --json a usage error is JSON on stdout too, with a non-zero exit", async () => {
    for (const args of [
      ["status", "--json"],
      ["fleet", "--json", "--bogus"],
    ]) {
      const { code, stdout } = await Cli.run(args);
      expect(code, args.join(" ")).not.toBe(0);
      expect(JSON.parse(stdout.join("\n")), args.join(" ")).toMatchObject({
        error: "UsageError",
        message: expect.stringMatching(/missing required argument 'id'|unknown option '--bogus'/),
      });
    }
  });

  describe("relative paths in the config file are relative to the file", () => {
    it("resolves trust.keys, stateDir, machinesDir and source.path against the file's directory", async () => {
      const etc = join(dir, "etc");
      await mkdir(etc);
      await writeFile(join(etc, "fleet.pub"), signer.publicKeyPem);
      await writeFile(
        join(etc, "agent.yaml"),
        stringify({
          id: "pi-1",
          trust: { keys: ["fleet.pub"], requireSignature: true },
          stateDir: "state",
          machinesDir: "../machines",
          source: { type: "file", path: "manifest.yaml" },
          docker: { enabled: false },
        }),
      );
      // The CLI runs in apps/edge-agent, far from the config file.
      const { code, stdout, stderr } = await Cli.run([
        "run",
        "--config",
        join(etc, "agent.yaml"),
        "--print-config",
      ]);
      expect(code, stderr.join("\n")).toBe(0);
      const config = JSON.parse(stdout.join("\n"));
      expect(config).toMatchObject({
        trust: { keys: [join(etc, "fleet.pub")] },
        stateDir: join(etc, "state"),
        machinesDir: join(dir, "machines"),
        source: { type: "file", path: join(etc, "manifest.yaml") },
      });
    });

    it("a trusted key file that cannot be read is an error naming the setting and the file", async () => {
      const etc = join(dir, "etc2");
      await mkdir(etc);
      await writeFile(join(etc, "agent.yaml"), stringify({ trust: { keys: ["missing.pub"] } }));
      const { code, stderr } = await Cli.run(["run", "--config", join(etc, "agent.yaml")]);
      expect(code).not.toBe(0);
      expect(stderr.join("\n")).toContain(
        `trust.keys[0]: cannot read ${join(etc, "missing.pub")}: ENOENT (a relative path in ${join(etc, "agent.yaml")} is relative to that file's directory)`,
      );
    });

    it("a state directory that cannot be made is an error naming stateDir", async () => {
      const etc = join(dir, "etc3");
      await mkdir(etc);
      await writeFile(join(etc, "not-a-dir"), "");
      await writeFile(
        join(etc, "agent.yaml"),
        stringify({ stateDir: "not-a-dir/state", docker: { enabled: false } }),
      );
      const { code, stderr } = await Cli.run(["run", "--config", join(etc, "agent.yaml")]);
      expect(code).toBe(1);
      expect(stderr.join("\n")).toContain(
        `stateDir: cannot create ${join(etc, "not-a-dir", "state")}: ENOTDIR. Set stateDir to a directory the agent may write`,
      );
    });
  });
});
