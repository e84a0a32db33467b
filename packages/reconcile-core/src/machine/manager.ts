import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { z } from "zod";
import { defineEventType } from "../bus/cloudevent.js";
import { type Logger, silentLogger } from "../logging/logger.js";
import { machineSubject } from "./events.js";
import { loadMachineFile, type MachineDefinition } from "./load.js";
import { type LocalMachines, MachineRuntime, type MachineRuntimeOptions } from "./runtime.js";
import type { WatcherRegistry } from "./watchers/registry.js";

export const MACHINE_FILE = "machine.yaml";

/**
 * Marks a machine directory as delivered from a remote source (a manifest), not placed by
 * hand. Whatever installs remote machines writes it (the edge agent's Machine kind); a dot
 * file, so it is not part of the content hash (and the Machine kind refuses dot files in a spec).
 */
export const DELIVERED_MACHINE_FILE = ".delivered.json";

/** A machine directory that could not be loaded (the others keep running). */
export const machineLoadFailedEvent = defineEventType(
  "org.reconcile.machine.v1.load_failed",
  z.object({
    identity: z.string(),
    directory: z.string(),
    error: z.string(),
    running_previous: z.boolean(),
  }),
);

export interface MachineManagerOptions
  extends Omit<MachineRuntimeOptions, "definition" | "directory" | "local"> {
  /** The directory of machines: one subdirectory per machine, each with a machine.yaml. */
  directory: string;
  registry: WatcherRegistry;
  /** Rescans this often (file-system events trigger scans sooner). Default 10 s, as Choria. */
  scanIntervalMs?: number;
  /**
   * Whether a delivered machine (its directory holds `DELIVERED_MACHINE_FILE`) may have
   * watchers that run commands (`runsCommands`). Checked every time a machine is (re)loaded;
   * a refused machine does not run. Default false: remote exec is opt-in (ADR 005). Machines
   * placed by hand are local administration and are not affected.
   */
  remoteCommands?: boolean;
  /** Called with a machine's load warnings (unknown keys, deprecated keys, ...) each time it is (re)loaded; they are logged too. */
  onWarnings?(directory: string, machine: string, warnings: string[]): void;
}

export interface ManagedMachineStatus {
  directory: string;
  name?: string;
  version?: string;
  state?: string;
  /** Content hash of every file in the directory (dot files excluded). */
  hash?: string;
  /** Why the current content is not running. */
  error?: string;
}

interface Entry {
  directory: string;
  hash: string;
  runtime?: MachineRuntime;
  error?: string;
}

/** Directories the manager never loads: `tmp`, dot directories and `*-temp`. */
export function isSkippedMachineDir(name: string): boolean {
  return name === "tmp" || name.startsWith(".") || name.endsWith("-temp");
}

/**
 * Runs every machine in a directory and keeps that set in step with the directory: a new
 * subdirectory starts, a removed one stops, and one whose content hash changes (machine.yaml
 * or any script beside it) restarts. A broken machine is reported and never stops the others;
 * a broken update leaves the previous version running. The loader is itself a reconcile loop.
 */
export class MachineManager implements LocalMachines {
  readonly #options: MachineManagerOptions;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #fileHashes = new Map<string, { mtimeMs: number; size: number; hash: string }>();
  readonly #transitionListeners = new Map<string, Set<(transition: string, to: string) => void>>();
  #scanning: Promise<void> = Promise.resolve();
  #timer?: NodeJS.Timeout;
  #watcher?: FSWatcher;
  #debounce?: NodeJS.Timeout;
  #stopped = false;

  constructor(options: MachineManagerOptions) {
    this.#options = options;
    this.#log = (options.log ?? silentLogger).child({ component: "machine-manager" });
  }

  async start(): Promise<void> {
    await this.scan();
    try {
      this.#watcher = watch(this.#options.directory, { recursive: false }, () =>
        this.#scheduleScan(),
      );
      this.#watcher.on("error", () => undefined);
    } catch {
      // The directory may not exist yet; the periodic scan picks it up.
    }
    this.#timer = setInterval(() => void this.scan(), this.#options.scanIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    await this.#scanning;
    await Promise.all([...this.#entries.values()].map((e) => e.runtime?.stop()));
    this.#entries.clear();
  }

  /** Brings the running machines in step with the directory now. Scans never overlap. */
  scan(): Promise<void> {
    this.#scanning = this.#scanning
      .then(() => this.#scan())
      .catch((err) => this.#log.error({ err }, "machine scan failed"));
    return this.#scanning;
  }

  status(): ManagedMachineStatus[] {
    return [...this.#entries.values()].map((e) => ({
      directory: e.directory,
      hash: e.hash,
      ...(e.runtime
        ? { name: e.runtime.name, version: e.runtime.version, state: e.runtime.state }
        : {}),
      ...(e.error ? { error: e.error } : {}),
    }));
  }

  /** The running machines. */
  machines(): MachineRuntime[] {
    return [...this.#entries.values()].flatMap((e) => (e.runtime ? [e.runtime] : []));
  }

  state(machine: string): string | undefined {
    for (const e of this.#entries.values()) if (e.runtime?.name === machine) return e.runtime.state;
    return undefined;
  }

  onTransition(machine: string, listener: (transition: string, to: string) => void): () => void {
    let listeners = this.#transitionListeners.get(machine);
    if (!listeners) {
      listeners = new Set();
      this.#transitionListeners.set(machine, listeners);
    }
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  #scheduleScan(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.scan(), 100);
  }

  async #scan(): Promise<void> {
    if (this.#stopped) return;
    const root = this.#options.directory;
    const found = new Set<string>();
    let names: string[] = [];
    try {
      names = (await readdir(root, { withFileTypes: true }))
        .filter((d) => d.isDirectory() && !isSkippedMachineDir(d.name))
        .map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        this.#log.warn({ err, directory: root }, "cannot read the machines directory");
    }
    for (const name of names.sort()) {
      const directory = join(root, name);
      try {
        await stat(join(directory, MACHINE_FILE));
      } catch {
        continue;
      }
      found.add(directory);
      const hash = await this.#hashDirectory(directory);
      const entry = this.#entries.get(directory);
      if (entry && entry.hash === hash) continue;
      await this.#load(directory, hash, entry);
    }
    for (const [directory, entry] of this.#entries) {
      if (found.has(directory)) continue;
      this.#log.info({ directory, machine: entry.runtime?.name }, "machine removed: stopping it");
      await entry.runtime?.stop();
      this.#entries.delete(directory);
    }
  }

  async #load(directory: string, hash: string, previous: Entry | undefined): Promise<void> {
    const result = await loadMachineFile(join(directory, MACHINE_FILE), this.#options.registry);
    if (!result.ok) {
      // A refused machine's warnings often say why ("did you mean 'command'?").
      const error = [result.error.message, ...result.warnings].join("; ");
      this.#log.error(
        { directory, error },
        previous?.runtime
          ? "machine update is invalid: the previous version keeps running"
          : "machine is invalid: not started",
      );
      return this.#failed(directory, hash, error, previous?.runtime);
    }
    for (const warning of result.warnings)
      this.#log.warn(
        { directory, machine: result.definition.spec.name, warning },
        "machine warning",
      );
    if (result.warnings.length > 0)
      this.#options.onWarnings?.(directory, result.definition.spec.name, result.warnings);
    const refusal = await this.#refusal(result.definition, directory);
    if (refusal) {
      // What the policy forbids never runs, not even a previous version of it.
      this.#log.error({ directory, error: refusal }, "machine refused: not started");
      if (previous?.runtime) await previous.runtime.stop();
      return this.#failed(directory, hash, refusal, undefined);
    }
    const name = result.definition.spec.name;
    const clash = [...this.#entries.values()].find(
      (e) => e.directory !== directory && e.runtime?.name === name,
    );
    if (clash) {
      const error = `machine name ${name} is already used by ${clash.directory}`;
      this.#log.error({ directory, error }, "machine not started");
      this.#entries.set(directory, {
        directory,
        hash,
        ...(previous?.runtime ? { runtime: previous.runtime } : {}),
        error,
      });
      return;
    }
    if (previous?.runtime) {
      this.#log.info({ directory, machine: name }, "machine changed: restarting it");
      await previous.runtime.stop();
    }
    const {
      registry: _registry,
      scanIntervalMs: _scan,
      directory: _root,
      remoteCommands: _remote,
      onWarnings: _onWarnings,
      ...runtimeOptions
    } = this.#options;
    const runtime = new MachineRuntime({
      ...runtimeOptions,
      definition: result.definition,
      directory,
      local: this,
    });
    runtime.onTransition((t) => {
      for (const listener of this.#transitionListeners.get(name) ?? [])
        listener(t.transition, t.to);
    });
    this.#entries.set(directory, { directory, hash, runtime });
    this.#log.info(
      { directory, machine: name, version: result.definition.spec.version },
      "machine loaded",
    );
    void runtime.start();
  }

  /** Records why `directory`'s content does not run, and publishes it as a load_failed event. */
  #failed(directory: string, hash: string, error: string, running?: MachineRuntime): void {
    this.#entries.set(directory, {
      directory,
      hash,
      ...(running ? { runtime: running } : {}),
      error,
    });
    this.#options.bus?.publish(
      machineSubject(this.#options.identity, basename(directory), "load_failed"),
      machineLoadFailedEvent.create({
        source: `machine/${this.#options.identity}`,
        subject: this.#options.identity,
        data: {
          identity: this.#options.identity,
          directory,
          error,
          running_previous: running !== undefined,
        },
      }),
    );
  }

  /** Why policy forbids running this machine, if it does: a delivered machine whose watchers run commands, where remote exec is off. */
  async #refusal(definition: MachineDefinition, directory: string): Promise<string | undefined> {
    if (this.#options.remoteCommands) return undefined;
    const commands = definition.watchers
      .filter((w) => w.type.runsCommands)
      .map((w) => `${w.spec.name} (${w.spec.type})`);
    if (commands.length === 0) return undefined;
    const delivered = await stat(join(directory, DELIVERED_MACHINE_FILE)).then(
      () => true,
      // Only a marker that is certainly absent makes a machine local; anything else fails closed.
      (err: NodeJS.ErrnoException) => err.code !== "ENOENT",
    );
    if (!delivered) return undefined;
    return `machine ${definition.spec.name} in ${directory} was delivered by a manifest (${DELIVERED_MACHINE_FILE}) and runs commands (${commands.join(", ")}), and remote exec is disabled on this host: not started. To run it, allow remote exec (edge agent: scripts.allowed: true) and restart, or deliver it without watchers that run commands`;
  }

  /** Hash of every file below `directory` but dot files (the data store) and temporaries; contents cached by mtime and size. */
  async #hashDirectory(directory: string): Promise<string> {
    const files: string[] = [];
    const walk = async (dir: string) => {
      for (const d of await readdir(dir, { withFileTypes: true })) {
        if (d.name.startsWith(".") || d.name.endsWith(".tmp")) continue;
        const path = join(dir, d.name);
        if (d.isDirectory()) await walk(path);
        else if (d.isFile()) files.push(path);
      }
    };
    await walk(directory);
    const hash = createHash("sha256");
    for (const path of files.sort()) {
      const info = await stat(path).catch(() => undefined);
      if (!info) continue;
      let cached = this.#fileHashes.get(path);
      if (!cached || cached.mtimeMs !== info.mtimeMs || cached.size !== info.size) {
        const content = await readFile(path).catch(() => Buffer.alloc(0));
        cached = {
          mtimeMs: info.mtimeMs,
          size: info.size,
          hash: createHash("sha256").update(content).digest("hex"),
        };
        this.#fileHashes.set(path, cached);
      }
      hash.update(`${relative(directory, path)}\0${cached.hash}\0${info.mode & 0o777}\n`);
    }
    return hash.digest("hex");
  }
}
