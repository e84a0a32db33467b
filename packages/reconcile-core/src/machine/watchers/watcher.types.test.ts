/**
 * Type-only tests of `defineWatcherType` and `WatcherRegistry`: `tsc --noEmit` checks them (an
 * `@ts-expect-error` that stops erroring fails the build); at run time they only define types.
 * The schema is passed only as `properties: <Name>Schema`, so renaming that field is one replace.
 */
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { WatcherSpec } from "../spec.js";
import { WatcherRegistry } from "./registry.js";
import {
  defineWatcherType,
  type Watcher,
  type WatcherContext,
  type WatcherRun,
  type WatcherType,
} from "./watcher.js";

const ProbeSchema = z
  .object({
    url: z.string(),
    retries: z.number().int().default(3),
    expect: z.enum(["up", "down"]).optional(),
  })
  .strict();
/** What `create` and `validate` get: defaults applied, optional fields optional. */
type ProbeProps = { url: string; retries: number; expect?: "up" | "down" | undefined };

const ClockSchema = z.object({ every: z.string() });

const probeWatcher = defineWatcherType({
  type: "probe",
  properties: ProbeSchema,
  defaultIntervalMs: 1_000,
  validate(spec, props, transitions) {
    expectTypeOf(spec).toEqualTypeOf<WatcherSpec>();
    expectTypeOf(props).toEqualTypeOf<ProbeProps>();
    expectTypeOf(transitions).toEqualTypeOf<ReadonlySet<string>>();
    return props.expect === "down" && !transitions.has("recovered") ? ["needs 'recovered'"] : [];
  },
  create(ctx, props) {
    expectTypeOf(ctx).toEqualTypeOf<WatcherContext>();
    expectTypeOf(props).toEqualTypeOf<ProbeProps>();
    expectTypeOf(props.retries).toEqualTypeOf<number>();
    return {
      run: async () => ({ outcome: "success", details: { url: props.url } }),
      stop() {},
    };
  },
});

const clockWatcher = defineWatcherType({
  type: "clock",
  properties: ClockSchema,
  create: (ctx, props) => ({
    activeChanged(active) {
      expectTypeOf(active).toEqualTypeOf<boolean>();
      if (active) ctx.report({ outcome: "fail", details: { every: props.every } });
    },
    stop() {},
  }),
});

describe("defineWatcherType", () => {
  it("types the watcher type by its schema's output", () => {
    expectTypeOf(probeWatcher).toEqualTypeOf<WatcherType<ProbeProps>>();
    expectTypeOf(clockWatcher).toEqualTypeOf<WatcherType<{ every: string }>>();
    expectTypeOf(probeWatcher.create).returns.toEqualTypeOf<Watcher>();
    expectTypeOf<Watcher["run"]>().toEqualTypeOf<
      ((signal: AbortSignal) => Promise<WatcherRun>) | undefined
    >();
  });

  it("refuses a property the schema does not have, in create and in validate", () => {
    defineWatcherType({
      type: "probe",
      properties: ProbeSchema,
      validate(_spec, props) {
        // @ts-expect-error: `timeout` is not a probe property
        return props.timeout ? [] : [];
      },
      create(_ctx, props) {
        // @ts-expect-error: `urls` is not a probe property
        const urls: string[] = props.urls;
        return { stop: () => void urls };
      },
    });
  });

  it("refuses a property used as the wrong type", () => {
    defineWatcherType({
      type: "probe",
      properties: ProbeSchema,
      create(_ctx, props) {
        // @ts-expect-error: `expect` is "up" | "down" | undefined
        const expected: "up" = props.expect;
        return { stop: () => void expected };
      },
    });
  });

  it("refuses a watcher of the wrong shape", () => {
    defineWatcherType({
      type: "probe",
      properties: ProbeSchema,
      // @ts-expect-error: `done` is not a watcher outcome
      create: () => ({ run: async () => ({ outcome: "done", details: {} }), stop() {} }),
    });
    defineWatcherType({
      type: "probe",
      properties: ProbeSchema,
      // @ts-expect-error: a run reports its details
      create: () => ({ run: async () => ({ outcome: "success" }), stop() {} }),
    });
    defineWatcherType({
      type: "probe",
      properties: ProbeSchema,
      // @ts-expect-error: every watcher can be stopped
      create: () => ({ activeChanged() {} }),
    });
    defineWatcherType({
      type: "probe",
      properties: ProbeSchema,
      // @ts-expect-error: validate returns its problems as a list
      validate: () => "looks fine",
      create: () => ({ stop() {} }),
    });
  });

  it("requires a zod schema", () => {
    defineWatcherType({
      type: "probe",
      // @ts-expect-error: a plain object is not a schema
      properties: { url: "string" },
      create: () => ({ stop() {} }),
    });
  });
});

describe("WatcherRegistry", () => {
  it("holds watcher types of different properties and hands them back untyped", () => {
    const registry = new WatcherRegistry([probeWatcher, clockWatcher]);
    // The registry cannot know which properties a name has: the loader parses them first.
    expectTypeOf(registry.require("probe")).toEqualTypeOf<WatcherType<unknown>>();
    expectTypeOf(registry.get("probe")).toEqualTypeOf<WatcherType<unknown> | undefined>();
  });

  it("refuses what is not a watcher type", () => {
    // @ts-expect-error: a watcher type needs a schema and `create`
    new WatcherRegistry([{ type: "probe" }]);
    // @ts-expect-error: a schema alone is not a watcher type
    new WatcherRegistry().register(ProbeSchema);
  });
});
