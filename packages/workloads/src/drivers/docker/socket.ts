/** The Docker engine socket named by DOCKER_HOST, or Docker's default. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  return host?.startsWith("unix://") ? host.slice("unix://".length) : "/var/run/docker.sock";
}

/**
 * Where the engine is: a Unix socket, or (DOCKER_HOST=tcp://..., ssh://...) whatever DOCKER_HOST
 * names, which dockerode's modem then reads itself, TLS settings (DOCKER_TLS_VERIFY,
 * DOCKER_CERT_PATH) included. `description` is what errors name.
 */
export function dockerEndpoint(
  socketPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { socketPath?: string; description: string } {
  if (socketPath) return { socketPath, description: socketPath };
  const host = env.DOCKER_HOST;
  if (host && !host.startsWith("unix://")) return { description: host };
  const path = defaultSocketPath(env);
  return { socketPath: path, description: path };
}
