import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir, until } from "@org/reconcile-core/testing";
import { describe, expect, it } from "vitest";
import { LABEL_OWNER } from "../src/driver.js";
import { ProcessSpecSchema, processDriver } from "../src/drivers/process/driver.js";

/** Alive and not a zombie waiting for a parent that does not reap it. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

const labels = { [LABEL_OWNER]: "process-driver-test" };

describe("process driver", () => {
  it("stops the whole process group, children included", async () => {
    const dir = await tempDir("process-driver");
    const driver = processDriver({ dir });
    const childFile = join(dir, "child.pid");
    const w = await driver.create({
      name: "group",
      spec: ProcessSpecSchema.parse({
        command: ["sh", "-c", `sleep 300 & echo $! > ${childFile}; wait`],
      }),
      labels,
      idempotencyKey: "k",
    });
    expect(w.state).toBe("running");
    const child = Number(
      await until(
        () => readFile(childFile, "utf8").catch(() => ""),
        (t) => t.endsWith("\n"),
        5_000,
        "child pid written",
      ),
    );
    expect(await running(child)).toBe(true);

    await driver.stop(w.id, 2_000);
    await until(
      () => running(child),
      (alive) => !alive,
      5_000,
      "child stopped with its group",
    );
    expect((await driver.inspect(w.id))?.state).toBe("exited");
  });

  it("is adopted by a new driver on the same directory, and reports how a workload ended", async () => {
    const dir = await tempDir("process-driver");
    const first = processDriver({ dir });
    const spec = ProcessSpecSchema.parse({
      command: ["sh", "-c", "echo one; echo two; echo oops >&2; exec sleep 300"],
    });
    const created = await first.create({ name: "adopt", spec, labels, idempotencyKey: "k" });
    const again = processDriver({ dir });
    expect(await again.list(labels)).toMatchObject([
      { id: "adopt", state: "running", details: { pid: created.details.pid } },
    ]);
    expect(await again.list({ [LABEL_OWNER]: "someone-else" })).toEqual([]);
    const logs = await until(
      () => again.logs("adopt", { tail: 1 }),
      (l) => l.stderr === "oops\n",
      5_000,
      "logs written",
    );
    expect(logs.stdout).toBe("two\n");

    const quick = await again.create({
      name: "quick",
      spec: ProcessSpecSchema.parse({ command: ["sh", "-c", "exit 7"] }),
      labels,
      idempotencyKey: "k2",
    });
    const ended = await until(
      () => again.inspect(quick.id),
      (o) => o?.state === "exited",
      5_000,
      "quick exit",
    );
    expect(ended).toMatchObject({ exitCode: 7, finishedAt: expect.any(Date) });

    await again.remove("adopt");
    expect(await again.inspect("adopt")).toBeUndefined();
    await until(
      () => running(created.details.pid as number),
      (alive) => !alive,
      5_000,
      "removed workload stopped",
    );
  });
});
