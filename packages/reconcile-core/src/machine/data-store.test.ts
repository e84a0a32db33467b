import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MACHINE_DATA_FILE, MachineData } from "./data-store.js";

describe("MachineData", () => {
  it("persists every change atomically and reloads it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "machine-data-"));
    const data = new MachineData(dir);
    data.set("a", 1);
    data.merge({ b: { c: true } });
    data.set("a", 2);
    data.delete("b");
    await data.flush();
    expect(JSON.parse(await readFile(join(dir, MACHINE_DATA_FILE), "utf8"))).toEqual({ a: 2 });
    expect(await readdir(dir)).toEqual([MACHINE_DATA_FILE]); // no temporary file left behind
    expect(new MachineData(dir).all()).toEqual({ a: 2 });
  });

  it("starts empty when the file is missing or corrupt", async () => {
    const dir = await mkdtemp(join(tmpdir(), "machine-data-"));
    await import("node:fs/promises").then((fs) =>
      fs.writeFile(join(dir, MACHINE_DATA_FILE), "{broken"),
    );
    expect(new MachineData(dir).all()).toEqual({});
  });
});
