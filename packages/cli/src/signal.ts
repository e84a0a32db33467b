/** The signals that ask a long-running command to stop: Ctrl-C and `kill`/systemd. */
export const STOP_SIGNALS: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM"];

/**
 * Resolves with the first stop signal the process receives (or when `abort` fires), then
 * removes its listeners, so a second Ctrl-C during shutdown gets Node's default (exit).
 */
export function waitForSignal(abort?: AbortSignal): Promise<NodeJS.Signals | "aborted"> {
  return new Promise((resolve) => {
    // Signal listeners alone do not keep Node running: with nothing else pending, the process
    // would exit (code 13) instead of waiting.
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const done = (signal: NodeJS.Signals | "aborted") => {
      clearInterval(keepAlive);
      for (const s of STOP_SIGNALS) process.off(s, done);
      abort?.removeEventListener("abort", onAbort);
      resolve(signal);
    };
    const onAbort = () => done("aborted");
    for (const s of STOP_SIGNALS) process.on(s, done);
    if (abort?.aborted) done("aborted");
    else abort?.addEventListener("abort", onAbort, { once: true });
  });
}
