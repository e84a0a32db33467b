/** Variables a child process may inherit: the basics of a login environment, never the agent's secrets. */
export const INHERITED_ENV = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LC_ALL",
  "TZ",
  "TMPDIR",
] as const;

/** The parent's environment reduced to `INHERITED_ENV`, plus `extra`. Credentials in the agent's own environment (NATS tokens, ...) do not leak to the commands it runs. */
export function childEnvironment(
  extra: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of INHERITED_ENV)
    if (process.env[name] !== undefined) env[name] = process.env[name];
  if (env.PATH === undefined) env.PATH = "/usr/local/bin:/usr/bin:/bin";
  return { ...env, ...extra };
}
