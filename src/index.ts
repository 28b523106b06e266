// hull's typed public API. The CLIs (src/cli, src/oci) and the sandbox library are thin shells over it.
//   - containers, volumes (docker-style):           src/container
//   - images, registries, the content store:        src/image
//   - sandboxes for Node programs:                  src/sandbox
//   - the OCI runtime lifecycle (runc-compatible):  src/runtime, also as the `oci` namespace
//   - the teaching trace:                           src/trace
export { native } from './native';
export type { NativeError, HullNative } from './native';
export * from './container';
export * from './image';
export {
  runSandbox, Sandbox, releaseIdle, Execution, prepareImage, SandboxOptionError, sandboxResources,
} from './sandbox';
export type {
  SandboxStartOptions, OutputChunk, PreparedImage, SandboxOptions, RunSandboxOptions, ProcessOptions,
  SandboxMount, SandboxResult, SandboxReason, SandboxTrace, SandboxResources,
} from './sandbox';
export { Runtime, HullRuntimeError, defaultSpec, validateSpec, compilePlan, serializePlan } from './runtime';
export * as oci from './runtime';
export { explainStep, createExplainer, explainEnabled } from './trace/explain';
