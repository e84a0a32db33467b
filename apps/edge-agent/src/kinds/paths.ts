import { lstat, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { TerminalError } from "@org/reconcile-core";

const within = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

/**
 * Confines `path` to the allowed roots: absolute, no `..` segments, under a root, and no
 * symbolic link on the way (or at the end) that leads outside it. Throws `TerminalError`
 * saying which rule it broke; returns the path to use.
 */
export async function confinePath(path: string, roots: readonly string[]): Promise<string> {
  if (!isAbsolute(path)) throw new TerminalError(`path '${path}' is not absolute`);
  if (path.split(/[\\/]/).includes("..")) throw new TerminalError(`path '${path}' contains '..'`);
  const target = resolve(path);
  const root = roots.map((r) => resolve(r)).find((r) => within(r, target));
  if (!root)
    throw new TerminalError(
      `path ${target} is outside the allowed roots (${roots.join(", ") || "none configured"})`,
    );
  const realRoot = await realpath(root).catch(() => root);
  // The deepest existing ancestor must resolve inside the root: no symlinked directory escapes.
  let ancestor = dirname(target);
  for (;;) {
    const real = await realpath(ancestor).catch(() => undefined);
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
  const info = await lstat(target).catch(() => undefined);
  if (info?.isSymbolicLink())
    throw new TerminalError(
      `path ${target} is a symbolic link; managed files must be regular files`,
    );
  if (info && !info.isFile())
    throw new TerminalError(`path ${target} exists and is not a regular file`);
  return target;
}
