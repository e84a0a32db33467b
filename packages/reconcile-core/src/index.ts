/**
 * `@org/reconcile-core`: the reconcile loop and what it is made of. Resources and their kinds,
 * the controller and its status, manifests and their signatures, the event bus, the KV store,
 * state sources, autonomous machines and their watchers, durations, logging and layered
 * configuration. Plumbing that sibling packages share lives in `@org/reconcile-core/internal`;
 * test helpers in `/testing`, the benchmark table in `/bench`.
 */
export { canonicalHash, type JsonValue } from "./canonical/canonical.js";
export { formatIssues } from "./errors.js";
export { createLogger, type Logger, REDACTED_KEYS, silentLogger } from "./logging/logger.js";

// Resources, kinds and manifests.
export {
  type AnyResourceKind,
  defineKind,
  KindRegistry,
  type ReconcileContext,
  type ReconcileOutcome,
  type Reconciler,
  type ResourceKind,
  RetryAfterError,
  TerminalError,
} from "./resource/kind.js";
export {
  type Manifest,
  type ManifestError,
  type ManifestResult,
  ManifestSchema,
  type ManifestSignature,
  ManifestSignatureSchema,
  parseManifest,
  parseManifestText,
  type Resource,
  ResourceIdSchema,
  ResourceSchema,
} from "./resource/manifest.js";
export {
  type Condition,
  ConditionSchema,
  type ConditionType,
  type ManifestStatus,
  ManifestStatusSchema,
  type ResourceState,
  type ResourceStatus,
  ResourceStatusSchema,
} from "./resource/status.js";
export {
  generateSigningKey,
  keyId,
  type SignatureCheck,
  signManifest,
  type TrustedKey,
  trustedKeyFromPem,
  verifyManifest,
} from "./resource/signature.js";

// The controller.
export type { BackoffPolicy } from "./controller/backoff.js";
export {
  type ApplyResult,
  Controller,
  type ControllerOptions,
  type FailurePolicy,
} from "./controller/controller.js";
export {
  driftCorrectedEvent,
  generationObservedEvent,
  resourceStatusEvent,
  rollbackEvent,
} from "./controller/events.js";

// Events, KV and state sources.
export {
  type CloudEvent,
  CloudEventSchema,
  defineEventType,
  type EventType,
  InvalidEventError,
  parseCloudEvent,
} from "./bus/cloudevent.js";
export type { EventBus, EventHandler, SubscribeOptions, Subscription } from "./bus/event-bus.js";
export { MemoryEventBus } from "./bus/memory-bus.js";
export {
  KvConflictError,
  type KvEntry,
  KvError,
  type KvStore,
  type KvWatch,
} from "./kv/kv-store.js";
export { MemoryKvStore } from "./kv/memory-kv.js";
export { decodeJson, encodeJson, KvValueError, TypedKv } from "./kv/typed-kv.js";
export type {
  ParseResult,
  StateSource,
  StateSourceError,
  StateUpdate,
} from "./source/state-source.js";
export { FileStateSource, type FileStateSourceOptions } from "./source/file-source.js";
export { KvStateSource, type KvStateSourceOptions } from "./source/kv-source.js";

// Autonomous machines (Choria's machine.yaml) and their watchers.
export { DurationSchema, durationMs, formatDuration, parseDuration } from "./machine/duration.js";
export {
  type MachineSpec,
  MachineSpecSchema,
  type TransitionSpec,
  TransitionSpecSchema,
  type WatcherSpec,
  WatcherSpecSchema,
} from "./machine/spec.js";
export { type LoopGuardPolicy, nextState, type TransitionResult } from "./machine/fsm.js";
export { MachineData } from "./machine/data-store.js";
export {
  loadMachineFile,
  loadMachineText,
  type MachineDefinition,
  type MachineLoadResult,
  MachineValidationError,
  validateMachine,
} from "./machine/load.js";
export {
  machineEventPattern,
  machineTransitionEvent,
  machineTransitionIgnoredEvent,
  WatcherStateSchema,
  watcherStateEvent,
} from "./machine/events.js";
export {
  MachineRuntime,
  type MachineRuntimeOptions,
  type MachineTransition,
} from "./machine/runtime.js";
export {
  MACHINE_FILE,
  MachineManager,
  type MachineManagerOptions,
  type ManagedMachineStatus,
  machineLoadFailedEvent,
} from "./machine/manager.js";
export { WatcherRegistry } from "./machine/watchers/registry.js";
export {
  type AnyWatcherType,
  defineWatcherType,
  type Watcher,
  type WatcherContext,
  type WatcherOutcome,
  type WatcherRun,
  type WatcherType,
} from "./machine/watchers/watcher.js";
export { builtinWatchers } from "./machine/watchers/builtin.js";

// Configuration, one zod schema per app: file, then environment, then flags.
export {
  ConfigError,
  layerFrom,
  maskSecrets,
  readConfigFile,
  resolveConfig,
} from "./config/layered.js";
