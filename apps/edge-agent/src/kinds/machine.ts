import { createHash } from "node:crypto";
import { chmod, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  defineKind,
  loadMachineText,
  TerminalError,
  type WatcherRegistry,
} from "@org/reconcile-core";
import {
  DELIVERED_MACHINE_FILE,
  MACHINE_DATA_FILE,
  writeFileAtomic,
} from "@org/reconcile-core/internal";
import { z } from "zod";

const RelativePath = z
  .string()
  .min(1)
  .refine(
    (p) =>
      !p.startsWith("/") &&
      !p.split("/").includes("..") &&
      !p.split("/").some((part) => part.startsWith(".")),
    {
      message: "a relative path inside the machine directory, without '..' or dot files",
    },
  );

export const MachineResourceSpecSchema = z
  .object({
    machine: z.string().min(1).describe("The machine.yaml text"),
    files: z
      .record(
        RelativePath,
        z
          .object({
            content: z.string().optional(),
            contentBase64: z.string().optional(),
            mode: z
              .string()
              .regex(/^0?[0-7]{3,4}$/)
              .default("0644"),
          })
          .strict(),
      )
      .default({})
      .describe("Scripts and data beside machine.yaml"),
  })
  .strict();

export type MachineResourceSpec = z.infer<typeof MachineResourceSpecSchema>;

/** What is installed for a resource: its content hash, and whether it carries the delivered marker. */
interface InstalledMachine {
  hash: string;
  delivered: boolean;
}

function contentOf(file: MachineResourceSpec["files"][string]): Buffer {
  return file.contentBase64 !== undefined
    ? Buffer.from(file.contentBase64, "base64")
    : Buffer.from(file.content ?? "", "utf8");
}

/** Hash of what the spec installs: machine.yaml and every file with its mode. */
function desiredHash(spec: MachineResourceSpec): string {
  const h = createHash("sha256");
  const files: Array<[string, Buffer, number]> = [
    ["machine.yaml", Buffer.from(spec.machine), 0o644],
  ];
  for (const [path, f] of Object.entries(spec.files))
    files.push([path, contentOf(f), Number.parseInt(f.mode, 8)]);
  for (const [path, content, mode] of files.sort((a, b) => a[0].localeCompare(b[0])))
    h.update(`${path}\0${createHash("sha256").update(content).digest("hex")}\0${mode}\n`);
  return h.digest("hex");
}

/** What is installed in `dir`, if anything. */
async function installed(dir: string): Promise<InstalledMachine | undefined> {
  const hash = await installedHash(dir);
  if (hash === undefined) return undefined;
  const delivered = await stat(join(dir, DELIVERED_MACHINE_FILE)).then(
    () => true,
    () => false,
  );
  return { hash, delivered };
}

/** Marks `dir` as delivered for resource `id`, so the machine manager checks it at every load. */
function markDelivered(dir: string, id: string): Promise<void> {
  return writeFileAtomic(
    join(dir, DELIVERED_MACHINE_FILE),
    `${JSON.stringify({ kind: "Machine", resource: id })}\n`,
    { mode: 0o644 },
  );
}

/** Hash of what is installed, on the same terms (dot files, such as the machine's data, left out). */
async function installedHash(dir: string): Promise<string | undefined> {
  const files: Array<[string, string, number]> = [];
  const walk = async (sub: string) => {
    for (const d of await readdir(join(dir, sub), { withFileTypes: true })) {
      if (d.name.startsWith(".")) continue;
      const rel = sub ? `${sub}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(rel);
      else if (d.isFile()) {
        const path = join(dir, rel);
        files.push([
          rel,
          createHash("sha256")
            .update(await readFile(path))
            .digest("hex"),
          (await stat(path)).mode & 0o7777,
        ]);
      }
    }
  };
  try {
    await walk("");
  } catch {
    return undefined;
  }
  const h = createHash("sha256");
  for (const [path, hash, mode] of files.sort((a, b) => a[0].localeCompare(b[0])))
    h.update(`${path}\0${hash}\0${mode}\n`);
  return h.digest("hex");
}

/**
 * The `Machine` kind: ships an autonomous machine (machine.yaml and its files) to the node.
 * A machine with watchers that run commands (exec, nagios) is refused unless the agent allows
 * remote exec (`scripts.allowed`), exactly as a Script would be: here when it is delivered, and
 * by the machine manager every time it loads it (the installed directory carries the delivered
 * marker), so a machine staged while remote exec was allowed does not run once it is not.
 * The machine is validated before it is installed, written beside the live one and swapped in
 * with a rename (the machine manager never sees half a machine), and keeps its data store
 * across updates. The machine manager then runs it. `watchers` must be the registry the
 * machine manager runs with, so a machine this kind accepts is one the manager can run.
 */
export function machineKind(options: {
  machinesDir: string;
  allowExec: boolean;
  watchers: WatcherRegistry;
}) {
  const dirOf = (id: string) => join(options.machinesDir, id.replace(/[^A-Za-z0-9_-]/g, "-"));
  return defineKind({
    name: "Machine",
    specSchema: MachineResourceSpecSchema,
    reconciler: {
      observe: async (id) => installed(dirOf(id)),

      async reconcile({ id, spec }, observed) {
        const dir = dirOf(id);
        // A copy installed by an agent that did not mark its machines is marked now, so the
        // machine manager applies scripts.allowed to it from its next load on.
        if (observed && !observed.delivered) await markDelivered(dir, id);
        const loaded = loadMachineText(spec.machine, options.watchers, `machine ${id}`);
        if (!loaded.ok) throw new TerminalError(loaded.error.message);
        // A machine that runs commands is remote code execution: allowed only where scripts are.
        const commands = loaded.definition.watchers
          .filter((w) => w.type.runsCommands)
          .map((w) => `${w.spec.name} (${w.spec.type})`);
        if (commands.length > 0 && !options.allowExec) {
          throw new TerminalError(
            `machine ${loaded.definition.spec.name} runs commands (${commands.join(", ")}), and remote exec is disabled on this agent (scripts.allowed)`,
          );
        }
        const want = desiredHash(spec);
        const details = {
          directory: dir,
          machine: loaded.definition.spec.name,
          version: loaded.definition.spec.version,
        };
        if (observed?.hash === want) return { changed: false, details };

        await mkdir(options.machinesDir, { recursive: true });
        const staging = join(options.machinesDir, `.${id}-install`);
        const old = join(options.machinesDir, `.${id}-old`);
        await rm(staging, { recursive: true, force: true });
        await mkdir(staging, { recursive: true });
        await writeFile(join(staging, "machine.yaml"), spec.machine);
        await markDelivered(staging, id);
        for (const [path, file] of Object.entries(spec.files)) {
          await mkdir(dirname(join(staging, path)), { recursive: true });
          await writeFile(join(staging, path), contentOf(file));
          await chmod(join(staging, path), Number.parseInt(file.mode, 8));
        }
        // Keep the machine's own data across updates.
        await cp(join(dir, MACHINE_DATA_FILE), join(staging, MACHINE_DATA_FILE)).catch(
          () => undefined,
        );
        await rm(old, { recursive: true, force: true });
        await rename(dir, old).catch(() => undefined);
        await rename(staging, dir);
        await rm(old, { recursive: true, force: true });
        return { changed: true, details };
      },

      async delete(id) {
        await rm(dirOf(id), { recursive: true, force: true });
      },
    },
  });
}
