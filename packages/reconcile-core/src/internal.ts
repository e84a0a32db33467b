/**
 * What sibling packages share that is not part of the reconcile API: queues and channels for
 * transports, key checks for KV implementations, backoff arithmetic, the child-process
 * environment, atomic file writes, YAML decoding and JSON Schema generation. Stable only
 * within this repository.
 */
export { canonicalJson } from "./canonical/canonical.js";
export { type BackoffPolicy, backoffDelay, defaultBackoff } from "./controller/backoff.js";
export { DeliveryQueue } from "./bus/delivery-queue.js";
export { DEFAULT_SUBSCRIBER_QUEUE_LIMIT } from "./bus/memory-bus.js";
export { subjectMatches } from "./bus/subject.js";
export { assertValidKey, assertValidPattern } from "./kv/kv-store.js";
export { defaultKvSourceBackoff } from "./source/kv-source.js";
export { MACHINE_DATA_FILE } from "./machine/data-store.js";
export { DELIVERED_MACHINE_FILE } from "./machine/manager.js";
export { splitCommand } from "./machine/watchers/command.js";
export {
  type JsonSchemaSet,
  renderJsonSchema,
  staleJsonSchemas,
  writeJsonSchemas,
} from "./schemas/json-schema.js";
export { writeFileAtomic, writeFileAtomicSync } from "./util/atomic-write.js";
export { BoundedQueue } from "./util/bounded-queue.js";
export { abortableDelay } from "./util/delay.js";
export { Channel } from "./util/channel.js";
export { childEnvironment, INHERITED_ENV } from "./util/process.js";
export { type Decoded, decodeYaml } from "./util/yaml.js";
