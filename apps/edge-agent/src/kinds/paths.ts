import { lstatSync, realpathSync, type Stats } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { TerminalError } from "@org/reconcile-core";

const within = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

/**
 * Confines `path` to the allowed roots: absolute, no `..` segments, under a root, and no
 * symbolic link on the way (or at the end) that leads outside it. Throws `TerminalError`
 * saying which rule it broke; returns the path to use and what is there now (its `lstat`).
 * Synchronous, like the File kind's other file-system calls: a few metadata calls cost
 * microseconds this way, and ten times that through the thread pool.
 */
export function confinePath(
  path: string,
  roots: readonly string[],
): { target: string; stats?: Stats } {
  if (!isAbsolute(path)) throw new TerminalError(`path '${path}' is not absolute`);
  if (path.split(/[\\/]/).includes("..")) throw new TerminalError(`path '${path}' contains '..'`);
  const target = resolve(path);
  const root = roots.map((r) => resolve(r)).find((r) => within(r, target));
  if (!root)
    throw new TerminalError(
      `path ${target} is outside the allowed roots (${roots.join(", ") || "none configured"})`,
    );
  const realRoot = realRootOf(root);
  // The deepest existing ancestor must resolve inside the root: no symlinked directory escapes.
  let ancestor = dirname(target);
  for (;;) {
    const real = tryFs(() => realpathSync.native(ancestor));
    if (real !== undefined) {
      if (!within(realRoot, real))
        throw new TerminalError(
          `path ${target} leaves the allowed root ${root} through a symbolic link (${ancestor} -> ${real})`,
        );
      break;
    }
    if (ancestor === root || ancestor === dirname(ancestor)) break;
    ancestor = dirname(ancestor);
  }
  const info = tryFs(() => lstatSync(target));
  if (info?.isSymbolicLink())
    throw new TerminalError(
      `path ${target} is a symbolic link; managed files must be regular files`,
    );
  if (info && !info.isFile())
    throw new TerminalError(`path ${target} exists and is not a regular file`);
  return info ? { target, stats: info } : { target };
}

/**
 * Where each allowed root really is, resolved once it exists. Only a symbolic link at or above
 * a root could move it, and whoever can change those is not confined by the roots anyway.
 */
const realRoots = new Map<string, string>();
function realRootOf(root: string): string {
  let real = realRoots.get(root);
  if (real === undefined) {
    real = tryFs(() => realpathSync.native(root));
    if (real === undefined) return root;
    realRoots.set(root, real);
  }
  return real;
}

/** The call's result, or undefined when the file system refuses it (missing, no access). */
function tryFs<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}
