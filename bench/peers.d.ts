// Types for bench/peers.js (plain CommonJS, shared by the benches and test/setup/peers.ts).

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

export interface CallOptions {
  timeoutMs?: number;
  input?: string;
}

/** Runs a command to completion (env defaults to the bench environment); never throws on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts?: RunOptions): RunResult;
/** Like runCommand(), but throws with the output when the command fails; returns stdout. */
export function check(cmd: string, args: string[], opts?: RunOptions): string;
/** The executables of each peer that are not on PATH. */
export const missing: { podman(): string[]; docker(): string[] };
/** Lazily unmounts everything under `dir`, then removes it. */
export function unmountAndRemove(dir: string): void;
/** Pids whose command line mentions `needle`. */
export function pidsMentioning(needle: string): number[];

export interface PodmanEnv {
  dir: string;
  /** Environment for podman: CONTAINERS_CONF and CONTAINERS_STORAGE_CONF point into `dir`. */
  env: NodeJS.ProcessEnv;
  /** `podman [--runtime <runtime>] ARGS...` in this environment. */
  podman(args: string[], opts?: CallOptions): RunResult;
  check(args: string[], opts?: CallOptions): string;
  /** Removes containers, images, mounts and the directory. */
  cleanup(): void;
}
export function createPodmanEnv(opts?: { runtime?: string; baseEnv?: NodeJS.ProcessEnv; prefix?: string }): PodmanEnv;

export interface Dockerd {
  dir: string;
  socket: string;
  /** Environment for the docker CLI (DOCKER_HOST points at this daemon; private config dir). */
  env: NodeJS.ProcessEnv;
  docker(args: string[], opts?: CallOptions): RunResult;
  check(args: string[], opts?: CallOptions): string;
  /** dockerd's own log so far (for assertion messages). */
  log(): string;
  /** Stops dockerd and its containerd, kills leftovers, unmounts and removes all its state. */
  stop(): Promise<void>;
}
export function startDockerd(opts?: { runtimes?: Record<string, string>; baseEnv?: NodeJS.ProcessEnv; prefix?: string }): Promise<Dockerd>;
