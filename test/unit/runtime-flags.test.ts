import { describe, it, expect } from 'vitest';
import { MS, MOUNT_ATTR, RECURSIVE_MOUNT_OPTIONS, parseMountOptions, capabilityMask, capabilityNumber, parseSignal, signalName, mountFlagsText, CAPABILITIES } from '../../src/runtime/flags';

describe('mount options', () => {
  it('splits flags, propagation and data', () => {
    expect(parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro', 'rslave', 'mode=755', 'size=1k'])).toEqual({
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
      propagation: MS.SLAVE | MS.REC,
      data: 'mode=755,size=1k',
    });
  });
  it('later words override earlier ones', () => {
    expect(parseMountOptions(['ro', 'rw', 'exec', 'noexec', 'rbind']).flags).toBe(MS.NOEXEC | MS.BIND | MS.REC);
  });
  it('has no recursive attributes without recursive words', () => {
    expect(parseMountOptions(['rbind', 'ro']).recursive).toBeUndefined();
  });
  it('turns recursive words into mount_setattr set/clear masks, apart from the mount(2) flags', () => {
    expect(parseMountOptions(['rbind', 'rro', 'rnosuid', 'rnodev', 'rnoexec', 'rnodiratime', 'rnosymfollow', 'mode=755'])).toEqual({
      flags: MS.BIND | MS.REC,
      propagation: 0,
      data: 'mode=755',
      recursive: {
        set: MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC | MOUNT_ATTR.NODIRATIME | MOUNT_ATTR.NOSYMFOLLOW,
        clear: 0,
      },
    });
    expect(parseMountOptions(['rrw', 'rsuid', 'rdev', 'rexec', 'rdiratime', 'rsymfollow']).recursive).toEqual({
      set: 0,
      clear: MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | MOUNT_ATTR.NOEXEC | MOUNT_ATTR.NODIRATIME | MOUNT_ATTR.NOSYMFOLLOW,
    });
  });
  it('a later recursive word wins over an earlier one for the same attribute', () => {
    expect(parseMountOptions(['rro', 'rrw']).recursive).toEqual({ set: 0, clear: MOUNT_ATTR.RDONLY });
    expect(parseMountOptions(['rnoexec', 'rexec', 'rnoexec']).recursive).toEqual({ set: MOUNT_ATTR.NOEXEC, clear: 0 });
  });
  it('an atime word sets the whole atime field (MOUNT_ATTR__ATIME in attr_clr, as the kernel demands)', () => {
    expect(parseMountOptions(['rnoatime']).recursive).toEqual({ set: MOUNT_ATTR.NOATIME, clear: MOUNT_ATTR._ATIME });
    expect(parseMountOptions(['rstrictatime']).recursive).toEqual({ set: MOUNT_ATTR.STRICTATIME, clear: MOUNT_ATTR._ATIME });
    expect(parseMountOptions(['rrelatime']).recursive).toEqual({ set: 0, clear: MOUNT_ATTR._ATIME });
    expect(parseMountOptions(['rnoatime', 'rstrictatime']).recursive).toEqual({ set: MOUNT_ATTR.STRICTATIME, clear: MOUNT_ATTR._ATIME });
    // Leaving noatime/strictatime is the default mode, relatime; never a partial atime field (EINVAL).
    expect(parseMountOptions(['rnoatime', 'ratime']).recursive).toEqual({ set: 0, clear: MOUNT_ATTR._ATIME });
    expect(parseMountOptions(['rnostrictatime', 'rro']).recursive).toEqual({ set: MOUNT_ATTR.RDONLY, clear: MOUNT_ATTR._ATIME });
    expect(parseMountOptions(['rnorelatime']).recursive).toEqual({ set: 0, clear: 0 });
  });
  it('knows all eighteen recursive words of runtime-spec 1.1', () => {
    expect([...RECURSIVE_MOUNT_OPTIONS].sort()).toEqual([
      'ratime', 'rdev', 'rdiratime', 'rexec', 'rnoatime', 'rnodev', 'rnodiratime', 'rnoexec', 'rnorelatime', 'rnostrictatime',
      'rnosuid', 'rnosymfollow', 'rrelatime', 'rro', 'rrw', 'rstrictatime', 'rsuid', 'rsymfollow',
    ]);
  });
  it('renders flags as text', () => {
    expect(mountFlagsText(MS.NOSUID | MS.NODEV)).toBe('MS_NOSUID|MS_NODEV');
  });
});

describe('capabilities', () => {
  it('numbers CAP_CHOWN=0 … CAP_CHECKPOINT_RESTORE=40', () => {
    expect(CAPABILITIES.length).toBe(41);
    expect(capabilityNumber('CAP_CHOWN')).toBe(0);
    expect(capabilityNumber('CAP_SYS_ADMIN')).toBe(21);
    expect(capabilityNumber('net_raw')).toBe(13);
    expect(capabilityNumber('CAP_CHECKPOINT_RESTORE')).toBe(40);
    expect(capabilityNumber('CAP_NOPE')).toBeUndefined();
  });
  it('builds 64-bit hex masks and reports unknown names', () => {
    const unknown: string[] = [];
    expect(capabilityMask(['CAP_KILL', 'CAP_AUDIT_WRITE', 'CAP_NET_BIND_SERVICE', 'CAP_FOO'], unknown)).toBe('0x0000000020000420');
    expect(unknown).toEqual(['CAP_FOO']);
    expect(capabilityMask(['CAP_CHECKPOINT_RESTORE'])).toBe('0x0000010000000000');
    expect(capabilityMask([])).toBe('0x0000000000000000');
  });
});

describe('signals', () => {
  it('accepts names with and without SIG, numbers, and RT signals', () => {
    expect(parseSignal('SIGTERM')).toBe(15);
    expect(parseSignal('TERM')).toBe(15);
    expect(parseSignal('kill')).toBe(9);
    expect(parseSignal('15')).toBe(15);
    expect(parseSignal(9)).toBe(9);
    expect(parseSignal('RTMIN+2')).toBe(36);
    expect(signalName(15)).toBe('SIGTERM');
  });
  it('rejects unknown signals', () => {
    expect(() => parseSignal('SIGFOO')).toThrow('invalid signal: SIGFOO');
    expect(() => parseSignal('0')).toThrow();
    expect(() => parseSignal('65')).toThrow();
  });
});
