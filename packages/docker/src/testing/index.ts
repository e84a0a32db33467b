export { removeOwned, shouldRunDockerTests, TEST_IMAGE } from "./docker.js";
