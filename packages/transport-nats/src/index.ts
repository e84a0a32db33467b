export {
  connectNats,
  describeNats,
  natsConnectionOptions,
  type NatsOptions,
  NatsOptionsSchema,
} from "./connection.js";
export { DEFAULT_OFFLINE_BUFFER, NatsEventBus, type NatsEventBusOptions } from "./event-bus.js";
export { type NatsKvOptions, NatsKvStore } from "./kv-store.js";
