#!/usr/bin/env node
// `npx container-runtime` from anywhere in the repository: the built CLI, or its source when nothing is built.
import { launch } from "@org/cli/launch";

await launch(import.meta.url);
