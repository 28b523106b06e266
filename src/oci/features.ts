// hull-oci features: what this runtime implements (runtime-spec features.md).
import type { Verb } from './cli';
import { CAPABILITIES, MOUNT_OPTIONS, RECURSIVE_MOUNT_OPTIONS } from '../runtime/flags';
import { writeOut } from './output';

const features: Verb = {
  usage: 'features',
  description: 'Show the enabled features.',
  flags: [],
  args: [0, 0],
  run() {
    const out = {
      ociVersionMin: '1.0.0',
      ociVersionMax: '1.2.0',
      hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
      // idmap/ridmap: idmapped bind mounts (runtime-spec 1.2), made by the helper's monitor.
      mountOptions: [...Object.keys(MOUNT_OPTIONS), ...RECURSIVE_MOUNT_OPTIONS, 'idmap', 'ridmap'].sort(),
      linux: {
        namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts', 'time'],
        capabilities: [...CAPABILITIES],
        cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
        seccomp: {
          enabled: true,
          actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP'],
          operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
          archs: ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
          knownFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
          supportedFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        },
        apparmor: { enabled: false },
        selinux: { enabled: false },
        intelRdt: { enabled: false },
        mountExtensions: { idmap: { enabled: true } },
      },
      annotations: { 'io.github.hull.version': '0.1.0' },
    };
    writeOut(JSON.stringify(out, null, 4) + '\n');
  },
};
export default features;
