// The devices every container gets whatever its config says, in runc's shape (libcontainer/specconv
// AllowedDevices): each entry is a device cgroup rule, and the ones with a path are also nodes the
// helper creates in /dev. One table for the cgroup rules (v1 devices.allow, v2 eBPF filter) and the
// nodes (plan `mkdev`), so they cannot drift apart.
import * as path from 'node:path';
import type { DeviceCgroupRule, Spec } from './spec';

export interface DefaultDevice {
  /** Node created in /dev (mode 0666, owner 0:0); no path = a cgroup rule only. */
  path?: string;
  type: 'c' | 'b';
  /** -1 = any. */
  major: number;
  minor: number;
  access: string;
}

/**
 * runc's list, in its order. No /dev/console (5:1): runc dropped it from this list; the console is
 * the pty the container gets (136:*). The config's rules come first and these after them, so a
 * config cannot take them away (runc's behaviour, kept for compatibility) except by redefining a
 * path in `linux.devices`: see `defaultDevices`.
 */
export const DEFAULT_DEVICES: readonly DefaultDevice[] = [
  // mknod of any device (opening one still needs a rule)
  { type: 'c', major: -1, minor: -1, access: 'm' },
  { type: 'b', major: -1, minor: -1, access: 'm' },
  { path: '/dev/null', type: 'c', major: 1, minor: 3, access: 'rwm' },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, access: 'rwm' },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, access: 'rwm' },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, access: 'rwm' },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, access: 'rwm' },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, access: 'rwm' },
  // ptys: /dev/pts/* and /dev/ptmx
  { type: 'c', major: 136, minor: -1, access: 'rwm' },
  { type: 'c', major: 5, minor: 2, access: 'rwm' },
  // tun: removed in runc 1.2.0-rc1, put back since docker users relied on it
  { type: 'c', major: 10, minor: 200, access: 'rwm' },
];

/**
 * The defaults that apply to `spec`: all but those whose path `linux.devices` redefines (runc's
 * rule: the config's node replaces the default one and brings no rule of its own, so
 * `--device /dev/zero:/dev/zero:r` leaves /dev/zero read-only).
 */
export function defaultDevices(spec: Spec): DefaultDevice[] {
  const redefined = new Set((spec.linux?.devices ?? []).map((d) => path.posix.normalize(d.path)));
  return DEFAULT_DEVICES.filter((d) => !d.path || !redefined.has(path.posix.normalize(d.path)));
}

/** The cgroup rules of `devices`, appended after the config's `linux.resources.devices`. */
export function defaultDeviceRules(devices: readonly DefaultDevice[]): DeviceCgroupRule[] {
  return devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access }));
}
