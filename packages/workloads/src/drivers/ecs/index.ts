export { EcsDriver, type EcsDriverOptions } from "./driver.js";
export { clientToken, runTaskInput } from "./launch.js";
export { observeTask, TAG_WORKLOAD_NAME } from "./observe.js";
export { type EcsSpec, type EcsSpecInput, EcsSpecSchema } from "./spec.js";
