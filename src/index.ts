// hull's typed public API. The CLIs (src/cli, src/oci) and the sandbox library are thin shells over it.
export { native } from './native';
export type { NativeError, HullNative } from './native';
