import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "@org/reconcile-core/internal";
import { type AgentDefinition, parseAgentDefinition } from "./agent-definition.js";

/**
 * The applied agent specs, one JSON file each under `<stateDir>/agents`, and the manifest
 * generation, written atomically, so a restarted supervisor converges on exactly what was applied.
 */
export class AgentStore {
  readonly #dir: string;
  readonly #generationFile: string;

  constructor(stateDir: string) {
    this.#dir = join(stateDir, "agents");
    this.#generationFile = join(stateDir, "generation");
  }

  async load(): Promise<{ agents: AgentDefinition[]; generation: number; problems: string[] }> {
    await mkdir(this.#dir, { recursive: true });
    const agents: AgentDefinition[] = [];
    const problems: string[] = [];
    for (const file of (await readdir(this.#dir)).filter((f) => f.endsWith(".json")).sort()) {
      const result = parseAgentDefinition(
        JSON.parse(await readFile(join(this.#dir, file), "utf8")),
      );
      if (result.ok) agents.push(result.agent);
      else problems.push(`${file}: ${result.error}`);
    }
    const generation =
      Number((await readFile(this.#generationFile, "utf8").catch(() => "0")).trim()) || 0;
    return { agents, generation, problems };
  }

  async put(agent: AgentDefinition): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeFileAtomic(
      join(this.#dir, `${agent.metadata.name}.json`),
      JSON.stringify(agent, null, 2),
    );
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.#dir, `${name}.json`), { force: true });
  }

  async setGeneration(generation: number): Promise<void> {
    await writeFileAtomic(this.#generationFile, String(generation));
  }
}
