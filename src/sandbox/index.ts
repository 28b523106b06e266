// The sandbox library: run untrusted commands in throwaway containers from Node (docs/sandbox.md).
export { runSandbox, Sandbox, releaseIdle } from './sandbox';
export type { SandboxStartOptions } from './sandbox';
export { Execution } from './execution';
export type { OutputChunk } from './execution';
export { prepareImage, SANDBOX_RUN_DIR } from './image';
export type { PreparedImage } from './image';
export { SANDBOX_CGROUP_PARENT } from './cgroup';
export { SandboxOptionError, parseSize } from './options';
export type {
  SandboxOptions, RunSandboxOptions, ProcessOptions, SandboxMount, SandboxResult, SandboxReason, SandboxTrace,
} from './options';
export { sandboxResources } from './leaks';
export type { SandboxResources } from './leaks';
