// The rule → eBPF compiler of native/cgroup.cc, checked without the kernel: the instructions are
// decoded and run through a tiny interpreter that knows only the instructions the filter may use.
import { describe, it, expect } from 'vitest';
import { native, type DeviceFilterRule } from '../../src/native';

const BLOCK = 1, CHAR = 2; // BPF_DEVCG_DEV_*
const MKNOD = 1, READ = 2, WRITE = 4; // BPF_DEVCG_ACC_*

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

function decode(buf: Buffer): Insn[] {
  expect(buf.length % 8).toBe(0);
  const out: Insn[] = [];
  for (let i = 0; i < buf.length; i += 8) {
    out.push({ code: buf[i], dst: buf[i + 1] & 0xf, src: buf[i + 1] >> 4, off: buf.readInt16LE(i + 2), imm: buf.readInt32LE(i + 4) });
  }
  return out;
}

/** Run the program on one request (bpf_cgroup_dev_ctx) and return r0. */
function run(prog: Insn[], type: number, access: number, major: number, minor: number): number {
  const ctx = [(access << 16) | type, major, minor]; // u32 words at offsets 0, 4, 8
  const r = new Array<number>(11).fill(0);
  const u32 = (n: number) => n >>> 0;
  for (let pc = 0, steps = 0; ; pc++, steps++) {
    if (pc >= prog.length || steps > 10000) throw new Error(`ran off the program at ${pc}`);
    const { code, dst, src, off, imm } = prog[pc];
    switch (code) {
      case 0x61: // ldx w: dst = *(u32 *)(src + off), src must be the ctx (r1, untouched so far)
        expect(src).toBe(1);
        expect(off % 4).toBe(0);
        r[dst] = u32(ctx[off / 4]);
        break;
      case 0x54: r[dst] = u32(r[dst] & imm); break; // and32 imm
      case 0x74: r[dst] = u32(r[dst]) >>> imm; break; // rsh32 imm
      case 0xbc: r[dst] = u32(r[src]); break; // mov32 reg
      case 0xb7: r[dst] = imm; break; // mov64 imm
      case 0x56: if (u32(r[dst]) !== u32(imm)) pc += off; break; // jne32 imm
      case 0x16: if (u32(r[dst]) === u32(imm)) pc += off; break; // jeq32 imm
      case 0x95: return r[0]; // exit
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
    if ((code & 0x07) === 0x06) expect(off).toBeGreaterThanOrEqual(0); // forward jumps only
  }
}

/** The semantics the filter must have, written plainly: last matching rule wins, else deny. */
function model(rules: DeviceFilterRule[], type: number, access: number, major: number, minor: number): number {
  for (const rule of [...rules].reverse()) {
    const t = rule.type ?? 'a';
    if (t !== 'a' && (t === 'b' ? BLOCK : CHAR) !== type) continue;
    if ((rule.major ?? -1) >= 0 && rule.major !== major) continue;
    if ((rule.minor ?? -1) >= 0 && rule.minor !== minor) continue;
    const acc = [...(rule.access || 'rwm')].reduce((a, c) => a | (c === 'r' ? READ : c === 'w' ? WRITE : MKNOD), 0);
    if (rule.allow ? (access & ~acc) !== 0 : (access & acc) === 0) continue;
    return rule.allow ? 1 : 0;
  }
  return 0;
}

const compile = (rules: DeviceFilterRule[]) => decode(native().compileDeviceFilter(rules));
const check = (rules: DeviceFilterRule[], type: number, access: number, major: number, minor: number) => run(compile(rules), type, access, major, minor);

describe('device filter compiler', () => {
  it('denies everything without rules', () => {
    const prog = compile([]);
    expect(prog).toHaveLength(8); // 6 loads of the request + "r0 = 0; exit"
    expect(run(prog, CHAR, READ, 1, 3)).toBe(0);
    expect(run(prog, BLOCK, MKNOD, 8, 0)).toBe(0);
  });

  it('deny all, then allow /dev/null: only c 1:3', () => {
    const rules: DeviceFilterRule[] = [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }];
    expect(check(rules, CHAR, READ | WRITE, 1, 3)).toBe(1);
    expect(check(rules, CHAR, READ, 1, 5)).toBe(0);
    expect(check(rules, BLOCK, READ, 1, 3)).toBe(0);
  });

  it('the last matching rule wins', () => {
    const allowNull = { allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' };
    const denyNull = { ...allowNull, allow: false };
    expect(check([allowNull, denyNull], CHAR, READ, 1, 3)).toBe(0);
    expect(check([denyNull, allowNull], CHAR, READ, 1, 3)).toBe(1);
  });

  it('an allow rule must cover every requested access; a deny rule matches any of them', () => {
    const readOnly: DeviceFilterRule[] = [{ allow: true, type: 'c', major: 1, minor: 5, access: 'r' }];
    expect(check(readOnly, CHAR, READ, 1, 5)).toBe(1);
    expect(check(readOnly, CHAR, READ | WRITE, 1, 5)).toBe(0);
    const noWrite: DeviceFilterRule[] = [{ allow: true, type: 'a', access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'w' }];
    expect(check(noWrite, CHAR, READ, 1, 5)).toBe(1);
    expect(check(noWrite, CHAR, READ | WRITE, 1, 5)).toBe(0);
    expect(check(noWrite, CHAR, WRITE, 1, 5)).toBe(0);
    expect(check(noWrite, CHAR, WRITE, 1, 7)).toBe(1);
  });

  it('wildcards: -1 or a missing number matches any, type a any type', () => {
    const mknodAll: DeviceFilterRule[] = [{ allow: true, type: 'c', major: -1, minor: -1, access: 'm' }];
    expect(check(mknodAll, CHAR, MKNOD, 250, 7)).toBe(1);
    expect(check(mknodAll, CHAR, READ, 250, 7)).toBe(0);
    expect(check(mknodAll, BLOCK, MKNOD, 8, 0)).toBe(0);
    const ptys: DeviceFilterRule[] = [{ allow: true, type: 'c', major: 136, access: 'rwm' }];
    expect(check(ptys, CHAR, READ | WRITE, 136, 12345)).toBe(1);
    expect(check(ptys, CHAR, READ, 137, 0)).toBe(0);
  });

  it('a rule matching everything ends the program (the verifier refuses unreachable code)', () => {
    const prog = compile([{ allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, access: '' }]);
    expect(prog).toHaveLength(8); // loads + "r0 = 1; exit": the deny rule before it can never decide
    expect(run(prog, CHAR, READ, 1, 3)).toBe(1);
  });

  it('agrees with the plain model on random rule lists', () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const types = ['a', 'c', 'b'] as const;
    const accesses = ['r', 'w', 'm', 'rw', 'rm', 'wm', 'rwm', ''];
    for (let round = 0; round < 300; round++) {
      const rules: DeviceFilterRule[] = Array.from({ length: rand(6) }, () => ({
        allow: rand(2) === 1,
        type: types[rand(3)],
        major: rand(3) === 0 ? -1 : rand(3),
        minor: rand(3) === 0 ? -1 : rand(3),
        access: accesses[rand(accesses.length)],
      }));
      const prog = compile(rules);
      for (let q = 0; q < 20; q++) {
        const type = rand(2) ? CHAR : BLOCK;
        const access = 1 + rand(7);
        const major = rand(3), minor = rand(3);
        expect(run(prog, type, access, major, minor), JSON.stringify({ rules, type, access, major, minor })).toBe(model(rules, type, access, major, minor));
      }
    }
  });

  it('refuses access letters outside rwm and numbers beyond u32', () => {
    expect(() => native().compileDeviceFilter([{ allow: true, access: 'rx' }])).toThrow(/not a subset of rwm/);
    expect(() => native().compileDeviceFilter([{ allow: true, type: 'c', major: 2 ** 32 }])).toThrow(/out of range/);
    expect(() => native().compileDeviceFilter([{ allow: true, type: 'x' as 'c' }])).toThrow(/type must be/);
  });
});
