import type { AnyWatcherType, WatcherType } from "./watcher.js";

/** Watcher types by name. Unknown and duplicate types fail loudly; nothing switch-cases on names. */
export class WatcherRegistry {
  readonly #types = new Map<string, WatcherType>();

  constructor(types: Iterable<AnyWatcherType> = []) {
    for (const t of types) this.register(t);
  }

  register<P>(type: WatcherType<P>): this {
    if (this.#types.has(type.type))
      throw new Error(`watcher type '${type.type}' is registered twice`);
    this.#types.set(type.type, type as unknown as WatcherType);
    return this;
  }

  /** The type, or undefined; `require` throws naming the known types. */
  get(name: string): WatcherType | undefined {
    return this.#types.get(name);
  }

  require(name: string): WatcherType {
    const type = this.#types.get(name);
    if (!type)
      throw new Error(`unknown watcher type '${name}'; known types: ${this.names().join(", ")}`);
    return type;
  }

  names(): string[] {
    return [...this.#types.keys()].sort();
  }
}
