/** Helpers for testing workload drivers (imports vitest). */
export { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "./docker.js";
export {
  describeWorkloadContract,
  type LifecycleInput,
  type WorkloadContractOptions,
} from "./workload-contract.js";
