import { readFileSync } from "node:fs";
import { TerminalError } from "@org/reconcile-core";

function lookup(file: string, name: string): number | undefined {
  try {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const [entry, , id] = line.split(":");
      if (entry === name && id !== undefined) return Number(id);
    }
  } catch {
    // No such file: names cannot be resolved.
  }
  return undefined;
}

/** A uid from a user name or number (from /etc/passwd). */
export function uidOf(owner: string | number): number {
  if (typeof owner === "number" || /^\d+$/.test(owner)) return Number(owner);
  const uid = lookup("/etc/passwd", owner);
  if (uid === undefined) throw new TerminalError(`unknown user '${owner}'`);
  return uid;
}

/** A gid from a group name or number (from /etc/group). */
export function gidOf(group: string | number): number {
  if (typeof group === "number" || /^\d+$/.test(group)) return Number(group);
  const gid = lookup("/etc/group", group);
  if (gid === undefined) throw new TerminalError(`unknown group '${group}'`);
  return gid;
}
