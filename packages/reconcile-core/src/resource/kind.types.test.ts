/**
 * Type-only tests of `defineKind` and `KindRegistry`: `tsc --noEmit` checks them (an
 * `@ts-expect-error` that stops erroring fails the build); at run time they only define kinds.
 * The schema is passed only as `spec: <Name>Schema`, so renaming that field is one replace.
 */
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  type AnyResourceKind,
  defineKind,
  KindRegistry,
  type ReconcileContext,
  type ReconcileOutcome,
  type ResourceKind,
} from "./kind.js";
import type { Resource } from "./manifest.js";

const FileSchema = z
  .object({
    path: z.string(),
    mode: z.number().int().default(0o644),
    owner: z.string().optional(),
  })
  .strict();
/** What a `File` reconciler works with: defaults applied, optional fields optional. */
type FileSpec = { path: string; mode: number; owner?: string | undefined };

const ServiceSchema = z.object({ unit: z.string(), enabled: z.boolean() });
type ServiceSpec = { unit: string; enabled: boolean };

const fileKind = defineKind({
  name: "File",
  specSchema: FileSchema,
  reconciler: {
    observe: async (id, ctx, desired) => {
      expectTypeOf(id).toEqualTypeOf<string>();
      expectTypeOf(ctx).toEqualTypeOf<ReconcileContext>();
      expectTypeOf(desired).toEqualTypeOf<Resource<FileSpec> | undefined>();
      return { size: 0, mode: 0o600 };
    },
    reconcile: async (resource, observed, ctx) => {
      expectTypeOf(resource).toEqualTypeOf<Resource<FileSpec>>();
      expectTypeOf(resource.spec).toEqualTypeOf<FileSpec>();
      expectTypeOf(resource.spec.mode).toEqualTypeOf<number>();
      expectTypeOf(observed).toEqualTypeOf<{ size: number; mode: number } | undefined>();
      expectTypeOf(ctx.generation).toEqualTypeOf<number>();
      return {
        changed: observed?.mode !== resource.spec.mode,
        details: { path: resource.spec.path },
      };
    },
    delete: async (_id, last) => {
      expectTypeOf(last).toEqualTypeOf<FileSpec | undefined>();
    },
    list: async () => ["motd"],
  },
});

const serviceKind = defineKind({
  name: "Service",
  specSchema: ServiceSchema,
  reconciler: {
    observe: async () => undefined,
    reconcile: async (resource) => (resource.spec.enabled ? { changed: true } : undefined),
    delete: async () => {},
  },
});

describe("defineKind", () => {
  it("types the kind by the schema's output and the observation observe returns", () => {
    expectTypeOf(fileKind).toEqualTypeOf<ResourceKind<FileSpec, { size: number; mode: number }>>();
    expectTypeOf(serviceKind).toExtend<ResourceKind<ServiceSpec>>();
    expectTypeOf(fileKind.reconciler.reconcile).returns.resolves.toEqualTypeOf<
      ReconcileOutcome | undefined
    >();
  });

  it("refuses a spec field the schema does not have", () => {
    defineKind({
      name: "File",
      specSchema: FileSchema,
      reconciler: {
        observe: async () => undefined,
        reconcile: async (resource) => {
          // @ts-expect-error: `pth` is not a field of the File spec
          const path: string = resource.spec.pth;
          return { details: { path } };
        },
        delete: async () => {},
      },
    });
  });

  it("refuses a spec field used as the wrong type", () => {
    defineKind({
      name: "File",
      specSchema: FileSchema,
      reconciler: {
        observe: async () => undefined,
        reconcile: async (resource) => {
          // @ts-expect-error: `mode` is a number
          const mode: string = resource.spec.mode;
          return { details: { mode } };
        },
        delete: async () => {},
      },
    });
  });

  it("refuses a reconciler written for another spec", () => {
    defineKind({
      name: "File",
      specSchema: FileSchema,
      reconciler: {
        observe: async () => undefined,
        // @ts-expect-error: this reconciler expects a Service spec, the schema makes a File spec
        reconcile: async (resource: Resource<ServiceSpec>) => ({ changed: resource.spec.enabled }),
        delete: async () => {},
      },
    });
  });

  it("refuses a reconcile outcome of the wrong shape", () => {
    const reconciler = {
      observe: async () => undefined,
      delete: async () => {},
    };
    defineKind({
      name: "File",
      spec: FileSchema,
      // @ts-expect-error: a misspelt outcome field shares nothing with ReconcileOutcome
      reconciler: { ...reconciler, reconcile: async () => ({ chnaged: true }) },
    });
    defineKind({
      name: "File",
      spec: FileSchema,
      // @ts-expect-error: `requeueAfterMs` is milliseconds, not a duration string
      reconciler: { ...reconciler, reconcile: async () => ({ requeueAfterMs: "10s" }) },
    });
    defineKind({
      name: "File",
      spec: FileSchema,
      // @ts-expect-error: `details` is a record, not a string
      reconciler: { ...reconciler, reconcile: async () => ({ changed: true, details: "ok" }) },
    });
    defineKind({
      name: "File",
      spec: FileSchema,
      // @ts-expect-error: reconcile resolves to an outcome, not a bare boolean
      reconciler: { ...reconciler, reconcile: async () => true },
    });
  });

  it("requires a zod schema and the three reconciler methods", () => {
    defineKind({
      name: "File",
      // @ts-expect-error: a plain object is not a schema
      spec: { path: "string" },
      reconciler: {
        observe: async () => undefined,
        reconcile: async () => undefined,
        delete: async () => {},
      },
    });
    defineKind({
      name: "File",
      spec: FileSchema,
      // @ts-expect-error: `delete` is missing
      reconciler: {
        observe: async () => undefined,
        reconcile: async () => undefined,
      },
    });
  });
});

describe("KindRegistry", () => {
  it("holds kinds of different specs and hands them back untyped", () => {
    const registry = new KindRegistry([fileKind, serviceKind]);
    registry.register(
      defineKind({
        name: "Note",
        specSchema: z.string(),
        reconciler: {
          observe: async () => undefined,
          reconcile: async (resource) => ({ details: { length: resource.spec.length } }),
          delete: async () => {},
        },
      }),
    );
    expectTypeOf([fileKind, serviceKind]).toExtend<Iterable<AnyResourceKind>>();
    // The registry cannot know which spec a name has: callers parse with the kind's schema first.
    expectTypeOf(registry.get("File")).toEqualTypeOf<ResourceKind<unknown, unknown> | undefined>();
    expectTypeOf(registry.names()).toEqualTypeOf<string[]>();
  });

  it("refuses what is not a kind", () => {
    // @ts-expect-error: a kind needs a schema and a reconciler
    new KindRegistry([{ name: "File" }]);
    // @ts-expect-error: a schema alone is not a kind
    new KindRegistry().register(FileSchema);
  });
});
