export {
  closeNats,
  connectNats,
  DEFAULT_DRAIN_GRACE_MS,
  type FirstConnectOptions,
  natsConnectionOptions,
} from "./connection.js";
export { DEFAULT_OFFLINE_BUFFER, NatsEventBus, type NatsEventBusOptions } from "./event-bus.js";
export { type NatsKvOptions, NatsKvStore } from "./kv-store.js";
export { describeNats, type NatsOptions, NatsOptionsSchema } from "./options.js";
