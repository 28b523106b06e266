import { describe, it, expect } from 'vitest';
import { MS, parseMountOptions, capabilityMask, capabilityNumber, parseSignal, signalName, mountFlagsText, CAPABILITIES } from '../../src/runtime/flags';

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
  it('rejects recursive attributes with a clear error', () => {
    expect(() => parseMountOptions(['rro'])).toThrow(/rro is not supported/);
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
