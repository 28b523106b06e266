// The shapes of hull's per-container record (<root>/containers/<id>/container.json). Field names
// follow docker's inspect output, so `inspect` is mostly the record itself.
import type { Spec } from '../runtime/spec';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** One mount as `inspect` shows it. */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** Volume name (named or anonymous volumes). */
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Anonymous volume made for an image VOLUME or `-v /path` (removed by `rm -v`). */
  Anonymous?: boolean;
  /** tmpfs options (size=…, mode=…). */
  Options?: string[];
}

export interface ContainerConfigRecord {
  Hostname: string;
  User: string;
  Env: string[];
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  WorkingDir: string;
  Labels: Record<string, string>;
  StopSignal: string;
  StopTimeout?: number;
  Tty: boolean;
  OpenStdin: boolean;
  AttachStdin: boolean;
  Volumes: Record<string, object> | null;
  /** The image as the user named it. */
  Image: string;
}

export interface HostConfigRecord {
  AutoRemove: boolean;
  Binds: string[];
  Tmpfs: Record<string, string>;
  ReadonlyRootfs: boolean;
  NetworkMode: string;
  Privileged: boolean;
  CapAdd: string[];
  CapDrop: string[];
  SecurityOpt: string[];
  LogConfig: { Type: 'json-file'; Config: { 'max-size'?: string; 'max-file'?: string } };
  /** `-m`: the memory limit in bytes, 0 for none (docker's HostConfig.Memory). */
  Memory?: number;
  /** The other limits, docker's HostConfig names (0 / "" / null = not set). */
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpusetCpus?: string;
  PidsLimit?: number | null;
  Ulimits?: { Name: string; Soft: number; Hard: number }[];
  OomScoreAdj?: number;
  Sysctls?: Record<string, string>;
  /** "remap" for `--userns remap`, "" otherwise. */
  UsernsMode?: string;
  Devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[];
}

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

export interface ContainerRecord {
  Id: string;
  /** "/name", as docker stores it. */
  Name: string;
  Created: string;
  /** Image ID (sha256:…): the image store's in-use check reads this key. */
  Image: string;
  Path: string;
  Args: string[];
  Config: ContainerConfigRecord;
  HostConfig: HostConfigRecord;
  Mounts: MountPoint[];
  State: ContainerState;
  LogPath: string;
  RestartCount: number;
  /** Lower layer directories of the image, top first (the overlay's lowerdir). */
  Layers: string[];
  /** The OCI spec the runtime is given at each start. */
  Spec: Spec;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';
