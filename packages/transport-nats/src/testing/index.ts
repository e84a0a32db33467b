export {
  natsServerAvailable,
  natsServerBin,
  shouldRunNatsTests,
  TestNatsServer,
} from "./nats-server.js";
