import { z } from "zod";
import type { KvWatch } from "../../../kv/kv-store.js";
import { defineWatcherType } from "../watcher.js";

const KvProperties = z
  .object({
    bucket: z.string().min(1).describe("KV bucket name"),
    key: z.string().min(1).describe("Key to watch"),
    mode: z
      .enum(["poll", "watch"])
      .default("poll")
      .describe("Choria's poll or watch; either way this agent watches the key (push)"),
    bucket_prefix: z
      .boolean()
      .default(true)
      .describe("Store the value as BUCKET_KEY in machine data (Choria's default), else as KEY"),
    store_key: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Machine data key to store the value under instead of the key (bucket_prefix applies)",
      ),
    data_key: z
      .string()
      .min(1)
      .optional()
      .describe("Deprecated: the exact machine data key, no prefix; use store_key"),
  })
  .strict();

const decoder = new TextDecoder();

/**
 * Watches one KV key (a push watch, current value first): a new value is stored in machine
 * data and fires success_transition; a delete removes it and fires fail_transition.
 */
export const kvWatcher = defineWatcherType({
  type: "kv",
  choriaOnlyProperties: [
    "on_successful_get",
    "on_matching_update",
    "republish_trigger",
    "hiera_config",
    "query",
  ],
  properties: KvProperties,
  summarize: (d) => `kv: ${d.bucket}/${d.key}`,
  create(ctx, props) {
    // Choria's dataKey(): store_key or key, prefixed with the bucket unless bucket_prefix: false.
    const stored = props.store_key ?? props.key;
    const dataKey = props.data_key ?? (props.bucket_prefix ? `${props.bucket}_${stored}` : stored);
    let watch: KvWatch | undefined;
    let stopped = false;

    const start = async () => {
      const store = ctx.kv(props.bucket);
      if (!store) {
        ctx.report({
          outcome: "error",
          details: {
            bucket: props.bucket,
            key: props.key,
            error: `no KV bucket '${props.bucket}' is available to this agent`,
          },
        });
        return;
      }
      try {
        watch = await store.watch(props.key);
        if (stopped) return watch.stop();
        for await (const entry of watch) {
          if (entry.operation === "DEL") {
            ctx.data.delete(dataKey);
            if (ctx.active())
              ctx.report({
                outcome: "fail",
                details: { bucket: props.bucket, key: props.key, revision: entry.revision },
              });
            continue;
          }
          const text = decoder.decode(entry.value);
          let value: unknown = text;
          try {
            value = JSON.parse(text);
          } catch {
            // Not JSON: kept as the string it is.
          }
          ctx.data.set(dataKey, value);
          if (ctx.active())
            ctx.report({
              outcome: "success",
              details: { bucket: props.bucket, key: props.key, revision: entry.revision },
            });
        }
      } catch (err) {
        if (!stopped)
          ctx.report({
            outcome: "error",
            details: { bucket: props.bucket, key: props.key, error: (err as Error).message },
          });
      }
    };
    void start();
    return {
      stop() {
        stopped = true;
        watch?.stop();
      },
    };
  },
});
