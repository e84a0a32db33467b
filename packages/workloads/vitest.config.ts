import { workspaceTestConfig } from "../../vitest.shared.js";

export default workspaceTestConfig(import.meta.dirname, { testTimeout: 60_000 });
