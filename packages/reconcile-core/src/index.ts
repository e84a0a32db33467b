export { type JsonValue, canonicalHash, canonicalJson } from "./canonical/canonical.js";
export { formatIssues } from "./errors.js";
export { createLogger, type Logger, REDACTED_KEYS, silentLogger } from "./logging/logger.js";
export { BoundedQueue } from "./util/bounded-queue.js";
export { writeFileAtomic } from "./util/atomic-write.js";

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
  type ManifestStatus,
  ManifestStatusSchema,
  type Condition,
  ConditionSchema,
  type ConditionType,
  type ResourceState,
  type ResourceStatus,
  ResourceStatusSchema,
} from "./resource/status.js";

export { type BackoffPolicy, backoffDelay, defaultBackoff } from "./controller/backoff.js";
export {
  type ApplyResult,
  Controller,
  type ControllerOptions,
  type FailurePolicy,
} from "./controller/controller.js";
export { diffResources, type Fingerprint, type ManifestDiff } from "./controller/diff.js";
export {
  driftCorrectedEvent,
  generationObservedEvent,
  resourceStatusEvent,
  rollbackEvent,
} from "./controller/events.js";
export { WorkQueue } from "./controller/work-queue.js";

export {
  type CloudEvent,
  CloudEventSchema,
  defineEventType,
  type EventType,
  InvalidEventError,
  parseCloudEvent,
} from "./bus/cloudevent.js";
export type { EventBus, EventHandler, SubscribeOptions, Subscription } from "./bus/event-bus.js";
export { DEFAULT_SUBSCRIBER_QUEUE_LIMIT, MemoryEventBus } from "./bus/memory-bus.js";
export { DeliveryQueue } from "./bus/delivery-queue.js";
export {
  compileSubjectPattern,
  type SubjectMatcher,
  subjectMatches,
  subjectToken,
} from "./bus/subject.js";

export {
  assertValidKey,
  assertValidPattern,
  KvConflictError,
  type KvEntry,
  KvError,
  type KvStore,
  type KvWatch,
} from "./kv/kv-store.js";
export { MemoryKvStore } from "./kv/memory-kv.js";
export { decodeJson, encodeJson, KvValueError, TypedKv } from "./kv/typed-kv.js";
export { Channel } from "./util/channel.js";

export type {
  ParseResult,
  StateSource,
  StateSourceError,
  StateUpdate,
} from "./source/state-source.js";
export { FileStateSource, type FileStateSourceOptions } from "./source/file-source.js";
export {
  defaultKvSourceBackoff,
  KvStateSource,
  type KvStateSourceOptions,
} from "./source/kv-source.js";

export {
  type JsonSchemaSet,
  renderJsonSchema,
  staleJsonSchemas,
  writeJsonSchemas,
} from "./schemas/json-schema.js";
export { coreJsonSchemas } from "./schemas/core-schemas.js";

export { DurationSchema, durationMs, formatDuration, parseDuration } from "./machine/duration.js";
export {
  ForeignStateSchema,
  MachineSpecSchema,
  type MachineSpec,
  NameSchema,
  type TransitionSpec,
  TransitionSpecSchema,
  type WatcherSpec,
  WatcherSpecSchema,
} from "./machine/spec.js";
export {
  defaultLoopGuard,
  type LoopGuardPolicy,
  type LoopGuardState,
  loopGuardDelay,
  machineStates,
  nextState,
  type TransitionResult,
} from "./machine/fsm.js";
export { MACHINE_DATA_FILE, MachineData } from "./machine/data-store.js";
export { renderTemplate, TemplateError, type TemplateInput } from "./machine/template.js";
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
  machineSubject,
  machineTransitionEvent,
  machineTransitionIgnoredEvent,
  WatcherStateSchema,
  watcherStateEvent,
} from "./machine/events.js";
export {
  type LocalMachines,
  type MachineRuntimeOptions,
  MachineRuntime,
  type MachineTransition,
} from "./machine/runtime.js";
export {
  isSkippedMachineDir,
  MACHINE_FILE,
  machineLoadFailedEvent,
  type ManagedMachineStatus,
  MachineManager,
  type MachineManagerOptions,
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
export { type CommandResult, runCommand, splitCommand } from "./machine/watchers/command.js";
export { machineEditorSchema } from "./machine/schema.js";
export {
  ConfigError,
  deepMerge,
  layerFrom,
  maskSecrets,
  readConfigFile,
  resolveConfig,
} from "./config/layered.js";
export {
  generateSigningKey,
  keyId,
  type SignatureCheck,
  signedBytes,
  signManifest,
  type TrustedKey,
  trustedKeyFromPem,
  verifyManifest,
} from "./resource/signature.js";
export { type Decoded, decodeYaml } from "./util/yaml.js";
export { childEnvironment, INHERITED_ENV } from "./util/process.js";
