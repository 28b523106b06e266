// Foreground run/exec: signals sent to hull-oci go to the container process, as with runc.
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export function forwardSignals(pid: number): () => void {
  const handlers = FORWARDED.map((sig) => {
    const handler = () => {
      try {
        process.kill(pid, sig);
      } catch {
        /* already exited */
      }
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return () => handlers.forEach(([sig, handler]) => process.off(sig, handler));
}
