import { describe, it, expect } from 'vitest';
import { defaultSeccompProfile, CLONE_NAMESPACE_FLAGS, type LinuxSeccomp } from '../../src/runtime/seccomp-default';

const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every rule that names `name`. */
function rulesFor(profile: LinuxSeccomp, name: string) {
  return (profile.syscalls ?? []).filter((rule) => rule.names.includes(name));
}

/** Allowed whatever its arguments. */
function allowedOutright(profile: LinuxSeccomp, name: string): boolean {
  return rulesFor(profile, name).some((rule) => rule.action === 'SCMP_ACT_ALLOW' && !rule.args?.length);
}

describe('defaultSeccompProfile', () => {
  const docker = defaultSeccompProfile(DOCKER_DEFAULT_CAPS, 'x64');

  it('is an allowlist that fails everything else with EPERM', () => {
    expect(docker.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(docker.defaultErrnoRet).toBe(1);
    for (const name of ['read', 'write', 'execve', 'openat', 'exit_group', 'futex', 'arch_prctl']) {
      expect(allowedOutright(docker, name), name).toBe(true);
    }
    const names = new Set(docker.syscalls!.flatMap((rule) => rule.names));
    expect(names.size).toBeGreaterThan(350);
  });

  it('covers the x86_64, i386 and x32 ABIs on x64 hosts', () => {
    expect(docker.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(defaultSeccompProfile([], 'arm64').architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('allows mount, unshare, setns, sethostname only with CAP_SYS_ADMIN', () => {
    const admin = defaultSeccompProfile([...DOCKER_DEFAULT_CAPS, 'CAP_SYS_ADMIN'], 'x64');
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'sethostname', 'fsopen', 'move_mount']) {
      expect(rulesFor(docker, name), name).toEqual([]);
      expect(allowedOutright(admin, name), name).toBe(true);
    }
  });

  it('accepts capability names without the CAP_ prefix, in any case', () => {
    expect(allowedOutright(defaultSeccompProfile(['sys_admin'], 'x64'), 'mount')).toBe(true);
    expect(allowedOutright(defaultSeccompProfile(['SYS_PTRACE'], 'x64'), 'kcmp')).toBe(true);
  });

  it('gates other privileged calls on their capability', () => {
    expect(rulesFor(docker, 'kcmp')).toEqual([]);
    expect(rulesFor(docker, 'reboot')).toEqual([]);
    expect(rulesFor(docker, 'init_module')).toEqual([]);
    expect(rulesFor(docker, 'open_by_handle_at')).toEqual([]);
    expect(allowedOutright(docker, 'chroot')).toBe(true); // CAP_SYS_CHROOT is a Docker default
    expect(allowedOutright(defaultSeccompProfile(['CAP_SYS_TIME'], 'x64'), 'settimeofday')).toBe(true);
    expect(allowedOutright(defaultSeccompProfile(['CAP_BPF'], 'x64'), 'bpf')).toBe(true);
  });

  it('never allows keyctl, userfaultfd, io_uring or kexec', () => {
    const everything = defaultSeccompProfile(
      ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_MODULE', 'CAP_SYS_BOOT', 'CAP_SYS_RAWIO', 'CAP_SYS_NICE'],
      'x64',
    );
    for (const name of ['keyctl', 'add_key', 'request_key', 'userfaultfd', 'io_uring_setup', 'io_uring_enter',
      'kexec_load', 'kexec_file_load']) {
      expect(rulesFor(everything, name), name).toEqual([]);
    }
    expect(rulesFor(docker, 'bpf')).toEqual([]);
  });

  it('allows clone only without CLONE_NEW* flags, and sends clone3 to ENOSYS', () => {
    expect(CLONE_NAMESPACE_FLAGS).toBe(0x7e020000);
    expect(rulesFor(docker, 'clone')).toEqual([{
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    }]);
    expect(rulesFor(docker, 'clone3')).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    expect(defaultSeccompProfile([], 's390x').syscalls!.find((r) => r.names.includes('clone'))!.args![0].index).toBe(1);

    const admin = defaultSeccompProfile(['CAP_SYS_ADMIN'], 'x64');
    expect(rulesFor(admin, 'clone').every((rule) => !rule.args?.length)).toBe(true);
    expect(allowedOutright(admin, 'clone3')).toBe(true);
  });

  it('allows only the Linux personas', () => {
    const values = rulesFor(docker, 'personality').map((rule) => rule.args![0].value);
    expect(values).toEqual([0x0, 0x8, 0x20000, 0x20008, 0xffffffff]);
  });

  it('allows socket for every domain but AF_ALG and AF_VSOCK', () => {
    const rules = rulesFor(docker, 'socket');
    const allows = (domain: number) =>
      rules.some(({ args }) => {
        const [{ op, value }] = args!;
        return op === 'SCMP_CMP_LT' ? domain < value : op === 'SCMP_CMP_EQ' && domain === value;
      });
    for (const domain of [1, 2, 10, 16, 17, 44]) expect(allows(domain), `domain ${domain}`).toBe(true);
    expect(allows(38)).toBe(false); // AF_ALG
    expect(allows(40)).toBe(false); // AF_VSOCK
    expect(rules[0]).toEqual({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 12, op: 'SCMP_CMP_LT' }] });
  });

  it('returns a fresh object each time', () => {
    const a = defaultSeccompProfile([], 'x64');
    a.syscalls![0].names.push('keyctl');
    expect(rulesFor(defaultSeccompProfile([], 'x64'), 'keyctl')).toEqual([]);
  });
});
