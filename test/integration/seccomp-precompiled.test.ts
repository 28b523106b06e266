// The addon's compileSeccomp (native/seccomp.cc built into hull_native) and the helper's
// `seccomp-bpf` op: sandboxes compile their filter once per shape in Node, and the helper loads the
// program as is (docs/internals/plan.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { native } from '../../src/native';
import { compileSeccomp } from '../../src/runtime/plan';
import { defaultSeccompProfile } from '../../src/runtime/seccomp-default';
import { releaseIdle, runSandbox } from '../../src/sandbox';
import { makeBusyboxRootfs, removeTree, tempDir } from '../setup/rootfs';

let dir: string;
let rootfs: string;

beforeAll(() => {
  dir = tempDir('hull-seccomp-bpf-');
  rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
});

afterAll(async () => {
  await releaseIdle();
  removeTree(dir);
});

/** The plan's `seccomp` + `seccomp-rule` ops for a profile (without `seccomp-load`). */
function filterOps(profile: Parameters<typeof compileSeccomp>[0]): string[][] {
  return compileSeccomp(profile).filter((op) => op[0] !== 'seccomp-load').map((op) => [...op]);
}

describe('compileSeccomp (addon)', () => {
  it('compiles the default profile to whole BPF instructions, in base64', () => {
    const profile = { ...defaultSeccompProfile(['CAP_KILL']), architectures: ['SCMP_ARCH_X86_64'] };
    const program = native().compileSeccomp(filterOps(profile));
    expect(program).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const bytes = Buffer.from(program, 'base64');
    expect(bytes.length % 8).toBe(0);
    expect(bytes.length / 8).toBeGreaterThan(100);
    // The last instruction is a `ret` (BPF_RET | BPF_K = 0x06).
    expect(bytes.readUInt16LE(bytes.length - 8)).toBe(0x06);
  });

  it('is deterministic: the same ops give the same program', () => {
    const ops = filterOps({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] });
    expect(native().compileSeccomp(ops)).toBe(native().compileSeccomp(ops));
  });

  it('refuses what the helper would refuse, as EINVAL from "seccomp" naming the rule', () => {
    const ops = [['seccomp', 'errno', '1', '', ''], ['seccomp-rule', 'allow', '0', 'read', '7:eq:1:0']];
    expect(() => native().compileSeccomp(ops)).toThrow(expect.objectContaining({
      code: 'EINVAL', syscall: 'seccomp', message: expect.stringMatching(/^seccomp: rule 1: argument index 7 is not 0\.\.5/),
    }));
    expect(() => native().compileSeccomp([['seccomp-rule', 'allow', '0', 'read', '']])).toThrow(/seccomp: op 0/);
    expect(() => native().compileSeccomp([['seccomp', 'bogus', '1', '', '']])).toThrow(/unknown default action "bogus"/);
  });
});

describe('seccomp-bpf (helper)', () => {
  it('loads the precompiled filter of a sandbox: refused calls fail, the trace counts its instructions', async () => {
    const steps: { op: string; text: string }[] = [];
    // unshare needs CAP_SYS_ADMIN in the default profile: EPERM from the filter.
    const r = await runSandbox({
      rootfs, argv: ['sh', '-c', 'grep ^Seccomp: /proc/self/status; unshare -U true 2>&1; echo rc=$?'],
      trace: (_step, op, text) => steps.push({ op, text }),
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Seccomp:\s+2\n/);
    expect(r.stdout).toMatch(/rc=[1-9]/);
    const load = steps.find((s) => s.op === 'seccomp-bpf');
    expect(load?.text).toMatch(/seccomp\(SECCOMP_SET_MODE_FILTER, \d+ rules, \d+ instructions\)/);
    expect(steps.some((s) => s.op === 'seccomp-rule' || s.op === 'seccomp-load')).toBe(false);
  });
});
