// hull's containers API (issue 4): docker's container model over the OCI runtime.
export { ContainerManager, statusText, summarize, humanDuration } from './manager';
export type { ContainerManagerOptions, CreateContainerOptions, StartOptions, ContainerSummary, ExecContainerOptions } from './manager';
export { VolumeStore } from './volumes';
export type { VolumeRecord } from './volumes';
export { ContainerStore } from './store';
export { ContainerCliError, NoSuchContainerError, NoSuchVolumeError, ContainerStateError } from './errors';
export { buildContainerSpec, effectiveCapabilities, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './spec';
export * from './options';
export type * from './types';
