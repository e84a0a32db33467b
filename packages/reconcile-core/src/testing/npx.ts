import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The repository root, where a newcomer types `npx <app>`. */
export const REPO_ROOT = fileURLToPath(new URL("../../../..", import.meta.url));

/**
 * Runs `npx <app> ...args` as a user types it (by default at the repository root), and never
 * throws on a non-zero exit. Outside the repository, where npx would not find the workspace,
 * it runs the linked bin itself, as it runs once on the PATH. Only once npm has linked the
 * workspace's bin: a missing link would send npx to the registry for a package of that name.
 */
export async function runNpx(
  app: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(REPO_ROOT, "node_modules/.bin", app);
  await access(bin).catch(() => {
    throw new Error(`${bin} is missing: npm did not link the workspace's bin (run npm install)`);
  });
  const { cwd = REPO_ROOT, env = process.env } = options;
  const inRepo = !relative(REPO_ROOT, cwd).startsWith("..");
  const [command, argv] = inRepo ? ["npx", [app, ...args]] : [bin, args];
  return promisify(execFile)(command, argv, { cwd, env }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
}
