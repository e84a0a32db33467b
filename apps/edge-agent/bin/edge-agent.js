#!/usr/bin/env node
// `npx edge-agent` from anywhere in the repository: the source in a checkout, the built CLI in an installed package.
import { launch } from "@org/cli/launch";

await launch(import.meta.url);
