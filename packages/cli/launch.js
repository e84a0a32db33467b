// Plain JavaScript on purpose: the apps' bins run this straight after `npm ci`, before any build.
import { existsSync } from "node:fs";
import { register } from "node:module";
import { fileURLToPath } from "node:url";

// Siblings resolve to their TypeScript source (the `source` export condition), as under
// `tsx --conditions=source`; a hook is the only way to add a condition once Node has started.
const SOURCE_CONDITION =
  "data:text/javascript,export async function resolve(specifier, context, next) {" +
  " return next(specifier, { ...context, conditions: [...context.conditions, 'source'] }); }";

/**
 * Runs the app whose bin file is at `binUrl` (`<app>/bin/<app>.js`): in a checkout, where
 * `src/cli.ts` exists, the source through tsx (so an older `dist/` never runs stale code);
 * in an installed package, which ships only `dist/`, the built `dist/cli.js`. The working
 * directory is left alone, so file arguments stay relative to where the user typed the command.
 * @param {string} binUrl the bin file's `import.meta.url`
 */
export async function launch(binUrl) {
  const source = new URL("../src/cli.ts", binUrl);
  if (!existsSync(source)) {
    await import(new URL("../dist/cli.js", binUrl).href);
    return;
  }
  const tsx = await import("tsx/esm/api");
  // The app's own tsconfig, never one that happens to sit in the caller's directory.
  tsx.register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", binUrl)) });
  register(SOURCE_CONDITION);
  await import(source.href);
}
