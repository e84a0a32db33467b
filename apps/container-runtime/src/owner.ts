import { createHash } from "node:crypto";
import { access, mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "@org/reconcile-core/internal";

/** The owner label of supervisors from before owners were per state directory. */
export const LEGACY_OWNER = "container-runtime";

/** Owner label of containers started by `run`, apart from every supervisor's. */
export const CLI_OWNER = "container-runtime-cli";

/** Owner values: what Docker labels and ECS `startedBy` both accept. */
const OWNER = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * The owner identity of the supervisor on `stateDir`: the configured one (`--owner`, `owner:`),
 * else the one recorded in `<stateDir>/owner`, else a new one derived from the directory's
 * absolute path (`container-runtime-<8 hex>`), recorded there. So the same state directory is
 * always the same owner (a restarted supervisor adopts its containers), two supervisors on two
 * state directories never touch each other's, and a state directory written before owners
 * existed (it has a `generation` but no `owner` file) keeps the old shared owner. Commands that
 * only read (`ps`, `stats`) pass `record: false` and leave the directory as it is.
 */
export async function resolveOwner(
  stateDir: string,
  configured?: string,
  options: { record?: boolean } = {},
): Promise<string> {
  if (configured !== undefined) {
    if (!OWNER.test(configured))
      throw new Error(
        `owner '${configured}' is not a valid owner: use letters, digits, '.', '_' and '-' (at most 128), starting with a letter or digit`,
      );
    return configured;
  }
  const file = join(stateDir, "owner");
  const recorded = (await readFile(file, "utf8").catch(() => "")).trim();
  if (recorded) {
    if (!OWNER.test(recorded))
      throw new Error(
        `${file} holds '${recorded}', which is not a valid owner: fix or delete the file`,
      );
    return recorded;
  }
  const legacy = await access(join(stateDir, "generation")).then(
    () => true,
    () => false,
  );
  const owner = legacy
    ? LEGACY_OWNER
    : `container-runtime-${createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 8)}`;
  if (options.record !== false) {
    await mkdir(stateDir, { recursive: true });
    await writeFileAtomic(file, `${owner}\n`);
  }
  return owner;
}
