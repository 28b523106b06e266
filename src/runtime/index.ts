// hull's runtime core: the typed OCI lifecycle API (the CLIs are thin shells over it).
export { Runtime, execProcessFromArgs } from './container';
export type { RuntimeOptions, CreateOptions, RunOptions, ExecOptions, ContainerSummary, ExecProcessOverrides } from './container';
export { defaultSpec, validateSpec, validateProcess, SpecError, OCI_VERSION } from './spec';
export type * from './spec';
export { compilePlan, serializePlan, PlanError } from './plan';
export type { PlanOp, PlanOptions, PlanMode, LogFileOptions } from './plan';
export { HullRuntimeError } from './helper-process';
export { ContainerError, StateStore, validateId, DEFAULT_STATE_ROOT } from './state';
export type { OciState, ContainerRecord, ExitRecord, Status } from './state';
export { HookError } from './hooks';
export { MS, parseMountOptions, parseSignal, signalName, capabilityNumber, capabilityMask, CAPABILITIES } from './flags';
