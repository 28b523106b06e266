// OCI hooks (config.md "POSIX-platform Hooks"): each hook runs with the container state as JSON on
// stdin, its own args (args[0] is argv[0]) and env, and an optional timeout in seconds.
import { spawnSync } from 'node:child_process';
import type { Hook, Hooks } from './spec';
import type { OciState } from './state';

export type HookKind = keyof Hooks;

export class HookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HookError';
  }
}

export interface RunHooksOptions {
  /** createContainer hooks run in the container's mount namespace (entered with nsenter). */
  mountNamespaceOf?: number;
}

/** Run the hooks of one kind in order; the first failure throws (callers decide if it's fatal). */
export function runHooks(kind: HookKind, hooks: Hook[] | undefined, state: OciState | Record<string, unknown>, opts: RunHooksOptions = {}): void {
  (hooks ?? []).forEach((hook, i) => {
    const argv0 = hook.args?.[0] ?? hook.path;
    let file = hook.path;
    let args = hook.args?.slice(1) ?? [];
    if (opts.mountNamespaceOf) {
      args = [`--mount=/proc/${opts.mountNamespaceOf}/ns/mnt`, '--', file, ...args];
      file = 'nsenter';
    }
    const result = spawnSync(file, args, {
      argv0: opts.mountNamespaceOf ? 'nsenter' : argv0,
      input: JSON.stringify(state),
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
      timeout: hook.timeout ? hook.timeout * 1000 : undefined,
      killSignal: 'SIGKILL',
      stdio: ['pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    const where = `${kind} hook #${i} (${hook.path})`;
    // A hook that exits without reading its stdin makes our write fail with EPIPE: that is fine.
    const epipe = (result.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' && result.status !== null;
    if (result.error && !epipe) {
      const code = (result.error as NodeJS.ErrnoException).code;
      if (code === 'ETIMEDOUT') throw new HookError(`${where}: timed out after ${hook.timeout}s`);
      throw new HookError(`${where}: ${result.error.message}`);
    }
    if (result.signal) throw new HookError(`${where}: killed by ${result.signal}`);
    if (result.status !== 0) {
      const stderr = (result.stderr ?? '').trim();
      throw new HookError(`${where}: exit status ${result.status}${stderr ? `: ${stderr}` : ''}`);
    }
  });
}
