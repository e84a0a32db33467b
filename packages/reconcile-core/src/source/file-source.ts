import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { type Manifest, parseManifestText } from "../resource/manifest.js";
import type { ParseResult, StateSource, StateSourceError, StateUpdate } from "./state-source.js";

export interface FileStateSourceOptions<T> {
  path: string;
  /** Decodes and validates the file's text. Default: a YAML or JSON manifest. */
  parse?: (text: string) => ParseResult<T>;
  /** A poll backs up the file-system events (they are lost on some file systems). Default 2 s. */
  pollIntervalMs?: number;
}

const parseManifestFile = (text: string): ParseResult<Manifest> => {
  const result = parseManifestText(text);
  return result.ok ? { ok: true, value: result.manifest } : result;
};

/**
 * Desired state from a local file (YAML or JSON). Watches the file's directory, so editors
 * and atomic renames are seen, and polls as a backstop. An unreadable or invalid file is
 * reported once per distinct error and the last good state stays in force.
 */
export class FileStateSource<T = Manifest> implements StateSource<T> {
  readonly path: string;
  readonly #parse: (text: string) => ParseResult<T>;
  readonly #pollIntervalMs: number;
  #listener?: (update: StateUpdate<T>) => void;
  #watcher?: FSWatcher;
  #poll?: NodeJS.Timeout;
  #debounce?: NodeJS.Timeout;
  #lastHash?: string;
  #lastError?: string;
  #current?: T;
  #checking: Promise<void> = Promise.resolve();

  constructor(options: FileStateSourceOptions<T>) {
    this.path = resolve(options.path);
    this.#parse =
      options.parse ?? (parseManifestFile as unknown as (text: string) => ParseResult<T>);
    this.#pollIntervalMs = options.pollIntervalMs ?? 2_000;
  }

  get current(): T | undefined {
    return this.#current;
  }

  async start(listener: (update: StateUpdate<T>) => void): Promise<void> {
    this.#listener = listener;
    const name = basename(this.path);
    try {
      this.#watcher = watch(dirname(this.path), (_event, file) => {
        if (file === null || file === name) this.#scheduleCheck();
      });
      this.#watcher.on("error", () => {
        // The directory went away; the poll keeps checking and reports the missing file.
      });
    } catch {
      // No directory yet: the poll reports it and picks the file up once it appears.
    }
    this.#poll = setInterval(() => this.#scheduleCheck(0), this.#pollIntervalMs);
    this.#poll.unref();
    await this.check();
  }

  async stop(): Promise<void> {
    this.#watcher?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    this.#listener = undefined;
    await this.#checking;
  }

  /** Reads the file now and delivers a change or an error. Checks never overlap. */
  check(): Promise<void> {
    this.#checking = this.#checking.then(() => this.#check());
    return this.#checking;
  }

  #scheduleCheck(delayMs = 25): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.check(), delayMs);
  }

  async #check(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const message =
        code === "ENOENT"
          ? `manifest file ${this.path} does not exist`
          : `cannot read ${this.path}: ${(err as Error).message}`;
      return this.#error({ code: "read", message, origin: this.path });
    }
    const hash = createHash("sha256").update(text).digest("hex");
    if (hash === this.#lastHash) {
      this.#lastError = undefined;
      return;
    }
    const parsed = this.#parse(text);
    if (!parsed.ok)
      return this.#error({
        ...parsed.error,
        message: `${this.path}: ${parsed.error.message}`,
        origin: this.path,
      });
    this.#lastHash = hash;
    this.#lastError = undefined;
    this.#current = parsed.value;
    this.#listener?.({ type: "desired", value: parsed.value, origin: this.path, version: hash });
  }

  #error(error: StateSourceError): void {
    // A broken file is reported once, not on every poll; the last good hash is kept so that
    // restoring the previous content is not re-delivered as a change.
    if (this.#lastError === error.message) return;
    this.#lastError = error.message;
    this.#listener?.({ type: "error", error });
  }
}
