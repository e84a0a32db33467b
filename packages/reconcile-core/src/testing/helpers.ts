import { chmod, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CloudEvent } from "../bus/cloudevent.js";
import type { EventBus } from "../bus/event-bus.js";

/** Polls `read` until `ok` accepts its value; fails with the last value after `ms`. */
export async function until<T>(
  read: () => T | Promise<T>,
  ok: (value: T) => boolean,
  ms = 10_000,
  what = "condition",
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > end)
      throw new Error(`${what} not met within ${ms} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `${prefix}-`));

/** Writes a machine directory: machine.yaml plus files (names ending in .sh are made executable). */
export async function writeMachineDir(
  directory: string,
  machineYaml: string,
  files: Record<string, string> = {},
): Promise<string> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, "machine.yaml"), machineYaml);
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(directory, name), content);
    if (name.endsWith(".sh")) await chmod(join(directory, name), 0o755);
  }
  return directory;
}

/** Records every event published on `bus` under `pattern`, with its subject. */
export function recordEvents(bus: EventBus, pattern: string) {
  const events: Array<{ subject: string; event: CloudEvent }> = [];
  const subscription = bus.subscribe(pattern, (event, subject) => {
    events.push({ subject, event });
  });
  return { events, stop: () => subscription.unsubscribe() };
}
