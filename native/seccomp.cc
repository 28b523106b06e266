// seccomp: compile a hull::SeccompFilter (built from a plan's `seccomp`/`seccomp-rule` ops) into a
// classic BPF program, and load it. No libseccomp: the layout is described, for workshop readers, in
// docs/internals/seccomp.md. In short:
//
//   ld  arch                      ; one comparison per audit arch the filter covers
//   jeq AUDIT_ARCH_X86_64 -> x86  ;
//   jeq AUDIT_ARCH_I386   -> i386 ; (only when SCMP_ARCH_X86 is listed)
//   ret KILL_PROCESS              ; any other arch
//  x86:
//   ld  nr
//   nr >= 0x40000000 (x32 bit) and nr != -1 -> x32 section, or KILL_PROCESS when x32 isn't listed
//   nr > newest syscall hull knows -> ERRNO(ENOSYS)  (errno defaults only: libc then falls back)
//   binary search on nr -> leaves of `jeq nr` -> shared `ret action`, or a body of argument checks
//   ret default
//
// Only the x86 family is implemented (the build machine); another architecture is one more AbiSpec
// with its audit arch, word order and syscall table.
#include "seccomp.h"

#include "syscalls_x86.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>

namespace hull {
namespace {

// ---------------------------------------------------------------------------------------------
// A tiny assembler. Classic BPF only jumps forward, and a conditional jump's targets are 8-bit
// offsets. Code is written with symbolic labels; Finish() lays it out and, where a conditional
// target is more than 255 instructions away, routes it through an adjacent `ja` (32-bit offset).

using Label = int;
constexpr Label kNext = -1;  // a conditional branch that falls through to the next instruction

struct Insn {
  enum Kind { kPlain, kCondJump, kGoto, kBind } kind;
  uint16_t code;
  uint32_t k;
  Label jt, jf;   // kCondJump
  Label target;   // kGoto: where to; kBind: the label bound at this point
};

class Assembler {
 public:
  Label NewLabel() { return nextLabel_++; }
  void Bind(Label label) { code_.push_back({Insn::kBind, 0, 0, kNext, kNext, label}); }
  void LoadWord(uint32_t offset) { Plain(BPF_LD | BPF_W | BPF_ABS, offset); }
  void And(uint32_t mask) { Plain(BPF_ALU | BPF_AND | BPF_K, mask); }
  void Return(uint32_t action) { Plain(BPF_RET | BPF_K, action); }
  // op is BPF_JEQ, BPF_JGT or BPF_JGE; compares the accumulator (unsigned) with k.
  void Jump(uint16_t op, uint32_t k, Label ifTrue, Label ifFalse) {
    code_.push_back({Insn::kCondJump, static_cast<uint16_t>(BPF_JMP | op | BPF_K), k, ifTrue, ifFalse, 0});
  }
  void Goto(Label label) { code_.push_back({Insn::kGoto, BPF_JMP | BPF_JA, 0, kNext, kNext, label}); }

  int Finish(std::vector<sock_filter>& out, std::string& error) {
    while (true) {
      std::vector<int> labelPos;
      Layout(labelPos);
      bool changed = false;
      int pos = 0;
      for (size_t i = 0; i < code_.size() && !changed; i++) {
        if (code_[i].kind == Insn::kBind) continue;
        if (code_[i].kind == Insn::kCondJump) {
          for (Label* branch : {&code_[i].jt, &code_[i].jf}) {
            if (*branch == kNext || labelPos[*branch] - pos - 1 <= 255) continue;
            AddTrampoline(i, branch);
            changed = true;
            break;
          }
        }
        pos++;
      }
      if (!changed) break;
    }

    std::vector<int> labelPos;
    int length = Layout(labelPos);
    if (length > BPF_MAXINSNS) {
      error = "the filter needs " + std::to_string(length) + " BPF instructions, the kernel allows " +
              std::to_string(BPF_MAXINSNS);
      return -EINVAL;
    }
    out.clear();
    int pos = 0;
    for (const Insn& insn : code_) {
      if (insn.kind == Insn::kBind) continue;
      sock_filter f{insn.code, 0, 0, insn.k};
      auto offset = [&](Label l) { return l == kNext ? 0 : labelPos[l] - pos - 1; };
      if (insn.kind == Insn::kCondJump) {
        int jt = offset(insn.jt), jf = offset(insn.jf);
        if (jt < 0 || jf < 0 || jt > 255 || jf > 255) return Internal(error, "conditional jump out of range");
        f.jt = static_cast<uint8_t>(jt);
        f.jf = static_cast<uint8_t>(jf);
      } else if (insn.kind == Insn::kGoto) {
        int k = offset(insn.target);
        if (k < 0) return Internal(error, "backward jump");
        f.k = static_cast<uint32_t>(k);
      }
      out.push_back(f);
      pos++;
    }
    return 0;
  }

 private:
  void Plain(uint16_t code, uint32_t k) { code_.push_back({Insn::kPlain, code, k, kNext, kNext, 0}); }

  // Positions of labels (index of the next real instruction); returns the program length.
  int Layout(std::vector<int>& labelPos) {
    labelPos.assign(nextLabel_, -1);
    int pos = 0;
    for (const Insn& insn : code_) {
      if (insn.kind == Insn::kBind) labelPos[insn.target] = pos;
      else pos++;
    }
    return pos;
  }

  // Insert `trampoline: ja far` right after instruction i and point the branch at it. A branch
  // that fell through gets an explicit label after the trampoline so it still reaches the same place.
  void AddTrampoline(size_t i, Label* branch) {
    Label far = *branch;
    Label trampoline = NewLabel();
    std::vector<Insn> inserted = {{Insn::kBind, 0, 0, kNext, kNext, trampoline},
                                  {Insn::kGoto, BPF_JMP | BPF_JA, 0, kNext, kNext, far}};
    Label* other = branch == &code_[i].jt ? &code_[i].jf : &code_[i].jt;
    if (*other == kNext) {
      *other = NewLabel();
      inserted.push_back({Insn::kBind, 0, 0, kNext, kNext, *other});
    }
    *branch = trampoline;
    code_.insert(code_.begin() + static_cast<std::ptrdiff_t>(i) + 1, inserted.begin(), inserted.end());
  }

  static int Internal(std::string& error, const char* what) {
    error = std::string("internal error: ") + what;
    return -EINVAL;
  }

  std::vector<Insn> code_;
  Label nextLabel_ = 0;
};

// ---------------------------------------------------------------------------------------------
// ABIs. On x86_64 one kernel serves three syscall ABIs; seccomp_data tells them apart by `arch`
// and, for x32, by a bit in `nr`.

constexpr uint32_t kX32SyscallBit = 0x40000000;

struct AbiSpec {
  const char* ociName;
  uint32_t auditArch;
  const SyscallEntry* table;
  size_t tableSize;
  uint32_t nrBit;      // added to kNewerSyscalls numbers (x32)
  bool args32;         // arguments are 32-bit (zero-extended): the high word is known to be 0
  bool has64OnlyCalls; // map_shadow_stack & co exist in this ABI
};

const AbiSpec kX86_64 = {"SCMP_ARCH_X86_64", AUDIT_ARCH_X86_64, kX86_64Syscalls,
                         sizeof(kX86_64Syscalls) / sizeof(SyscallEntry), 0, false, true};
const AbiSpec kX32 = {"SCMP_ARCH_X32", AUDIT_ARCH_X86_64, kX32Syscalls,
                      sizeof(kX32Syscalls) / sizeof(SyscallEntry), kX32SyscallBit, false, true};
const AbiSpec kI386 = {"SCMP_ARCH_X86", AUDIT_ARCH_I386, kI386Syscalls,
                       sizeof(kI386Syscalls) / sizeof(SyscallEntry), 0, true, false};

// OCI arch names this kernel can never report on x86_64: accepted in a profile and ignored.
const char* const kForeignArches[] = {
    "SCMP_ARCH_ARM",      "SCMP_ARCH_AARCH64",   "SCMP_ARCH_MIPS",    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",   "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",      "SCMP_ARCH_PPC64",     "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",    "SCMP_ARCH_PARISC",    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",   "SCMP_ARCH_SH",      "SCMP_ARCH_SHEB"};

// The ABI's table sorted by name, built on first use: a Docker profile names ~370 syscalls for up
// to three ABIs, and a linear scan of ~450 names for each was most of the compile time (~5 ms).
const std::vector<const SyscallEntry*>& SortedByName(const AbiSpec& abi) {
  static std::vector<const SyscallEntry*> sorted[3];
  std::vector<const SyscallEntry*>& index = sorted[abi.table == kX86_64Syscalls ? 0 : abi.table == kX32Syscalls ? 1 : 2];
  if (index.empty()) {
    for (size_t i = 0; i < abi.tableSize; i++) index.push_back(&abi.table[i]);
    // Stable: a name listed twice keeps its first number, as the linear scan did.
    std::stable_sort(index.begin(), index.end(),
                     [](const SyscallEntry* a, const SyscallEntry* b) { return strcmp(a->name, b->name) < 0; });
  }
  return index;
}

bool LookupSyscall(const AbiSpec& abi, const std::string& name, uint32_t& number) {
  const std::vector<const SyscallEntry*>& index = SortedByName(abi);
  auto it = std::lower_bound(index.begin(), index.end(), name.c_str(),
                             [](const SyscallEntry* entry, const char* key) { return strcmp(entry->name, key) < 0; });
  if (it != index.end() && name == (*it)->name) {
    number = (*it)->number;
    return true;
  }
  for (const SyscallEntry& entry : kNewerSyscalls) {
    if (name != entry.name) continue;
    for (const char* only64 : kNewerSyscalls64Only)
      if (!abi.has64OnlyCalls && name == only64) return false;
    number = abi.nrBit + entry.number;
    return true;
  }
  return false;
}

// The highest number hull knows in an ABI: anything above it is newer than hull's tables.
uint32_t HighestKnownSyscall(const AbiSpec& abi) {
  uint32_t highest = 0;
  for (size_t i = 0; i < abi.tableSize; i++) highest = std::max(highest, abi.table[i].number);
  for (const SyscallEntry& entry : kNewerSyscalls) highest = std::max(highest, abi.nrBit + entry.number);
  return highest;
}

// ---------------------------------------------------------------------------------------------
// Actions and comparisons

bool ParseAction(const std::string& action, int errnoRet, uint32_t& out) {
  uint32_t data = static_cast<uint32_t>(errnoRet) & SECCOMP_RET_DATA;
  if (action == "kill-process") out = SECCOMP_RET_KILL_PROCESS;
  else if (action == "kill-thread") out = SECCOMP_RET_KILL_THREAD;
  else if (action == "trap") out = SECCOMP_RET_TRAP;
  else if (action == "errno") out = SECCOMP_RET_ERRNO | data;
  else if (action == "trace") out = SECCOMP_RET_TRACE | data;
  else if (action == "allow") out = SECCOMP_RET_ALLOW;
  else if (action == "log") out = SECCOMP_RET_LOG;
  else if (action == "notify") out = SECCOMP_RET_USER_NOTIF;  // Linux 5.0; without a listener: ENOSYS
  else return false;
  return true;
}

enum class CmpOp { kNe, kLt, kLe, kEq, kGe, kGt, kMaskedEq };

bool ParseOp(const std::string& op, CmpOp& out) {
  static const std::map<std::string, CmpOp> kOps = {
      {"ne", CmpOp::kNe}, {"lt", CmpOp::kLt}, {"le", CmpOp::kLe},          {"eq", CmpOp::kEq},
      {"ge", CmpOp::kGe}, {"gt", CmpOp::kGt}, {"masked-eq", CmpOp::kMaskedEq}};
  auto it = kOps.find(op);
  if (it == kOps.end()) return false;
  out = it->second;
  return true;
}

struct CompiledArg {
  unsigned index;
  CmpOp op;
  uint64_t value;     // the compared value, or the mask for masked-eq
  uint64_t expected;  // masked-eq only: (arg & value) == expected
};

struct CompiledRule {
  uint32_t action;
  std::vector<CompiledArg> args;  // all must hold
};

uint32_t High(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
uint32_t Low(uint64_t v) { return static_cast<uint32_t>(v); }

// seccomp_data.args[i] is a u64 in the kernel's byte order; x86 is little-endian, so the low word
// comes first. (A big-endian ABI would swap these two.)
uint32_t ArgLowOffset(unsigned index) { return offsetof(struct seccomp_data, args) + 8 * index; }
uint32_t ArgHighOffset(unsigned index) { return ArgLowOffset(index) + 4; }

// Compare the low words: jump to pass or fail.
void EmitLowCompare(Assembler& a, const CompiledArg& arg, Label pass, Label fail) {
  a.LoadWord(ArgLowOffset(arg.index));
  uint32_t v = Low(arg.value);
  switch (arg.op) {
    case CmpOp::kEq: a.Jump(BPF_JEQ, v, pass, fail); break;
    case CmpOp::kNe: a.Jump(BPF_JEQ, v, fail, pass); break;
    case CmpOp::kGt: a.Jump(BPF_JGT, v, pass, fail); break;
    case CmpOp::kGe: a.Jump(BPF_JGE, v, pass, fail); break;
    case CmpOp::kLt: a.Jump(BPF_JGE, v, fail, pass); break;
    case CmpOp::kLe: a.Jump(BPF_JGT, v, fail, pass); break;
    case CmpOp::kMaskedEq:
      a.And(v);
      a.Jump(BPF_JEQ, Low(arg.expected), pass, fail);
      break;
  }
}

// Emits code that falls through when the 64-bit `arg op value` holds and jumps to `fail` otherwise.
// The high words decide unless they are equal (or, for masked-eq, match), then the low words do.
// For a 32-bit ABI the argument's high word is 0, so that first step is decided here, at compile time.
void EmitArgCheck(Assembler& a, const AbiSpec& abi, const CompiledArg& arg, Label fail) {
  Label pass = a.NewLabel();
  Label checkLow = a.NewLabel();
  uint32_t vHigh = High(arg.value);

  // What the high-word comparison means: argHigh > vHigh, argHigh == vHigh, argHigh < vHigh.
  Label ifGreater = fail, ifLess = fail;
  switch (arg.op) {
    case CmpOp::kEq: case CmpOp::kMaskedEq: break;
    case CmpOp::kNe: ifGreater = ifLess = pass; break;
    case CmpOp::kGt: case CmpOp::kGe: ifGreater = pass; break;
    case CmpOp::kLt: case CmpOp::kLe: ifLess = pass; break;
  }

  if (abi.args32) {
    bool highMatches = arg.op == CmpOp::kMaskedEq ? High(arg.expected) == 0 : vHigh == 0;
    if (!highMatches) {
      // argHigh (0) < vHigh, or a masked-eq that needs high bits a 32-bit argument cannot have.
      a.Goto(arg.op == CmpOp::kMaskedEq ? fail : ifLess);
      a.Bind(checkLow);  // unreachable, keeps the label defined
      a.Bind(pass);
      return;
    }
  } else {
    a.LoadWord(ArgHighOffset(arg.index));
    if (arg.op == CmpOp::kMaskedEq) {
      a.And(vHigh);
      a.Jump(BPF_JEQ, High(arg.expected), checkLow, fail);
    } else {
      if (ifGreater != fail || ifLess != fail) {
        Label notGreater = a.NewLabel();
        a.Jump(BPF_JGT, vHigh, ifGreater, notGreater);
        a.Bind(notGreater);
      }
      a.Jump(BPF_JEQ, vHigh, checkLow, ifLess);
    }
  }
  a.Bind(checkLow);
  EmitLowCompare(a, arg, pass, fail);
  a.Bind(pass);
}

// ---------------------------------------------------------------------------------------------
// Program layout

struct SyscallRules {
  uint32_t number;
  std::vector<const CompiledRule*> rules;  // in plan order; the first that matches decides
};

class FilterCompiler {
 public:
  FilterCompiler(Assembler& a, uint32_t defaultAction) : a_(a), defaultAction_(defaultAction) {}

  // One ABI: syscall-number range checks, then a binary search over the syscalls with rules.
  // Expects nr in the accumulator.
  void EmitAbi(const AbiSpec& abi, const std::vector<SyscallRules>& syscalls) {
    abi_ = &abi;
    if ((defaultAction_ & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO) {
      // Syscalls newer than hull's tables cannot have been named in the profile: ENOSYS lets libc
      // fall back to an older call instead of failing on the default errno (runc does the same).
      Label known = a_.NewLabel();
      a_.Jump(BPF_JGT, HighestKnownSyscall(abi), ReturnLabel(SECCOMP_RET_ERRNO | ENOSYS), known);
      a_.Bind(known);
    }
    EmitTree(syscalls, 0, syscalls.size());
  }

  // Shared `ret` instructions, placed at the very end (far jumps reach them via trampolines).
  void EmitSharedReturns() {
    for (const auto& [action, label] : sharedReturns_) {
      a_.Bind(label);
      a_.Return(action);
    }
  }

  Label ReturnLabel(uint32_t action) {
    auto it = sharedReturns_.find(action);
    if (it != sharedReturns_.end()) return it->second;
    Label label = a_.NewLabel();
    sharedReturns_[action] = label;
    return label;
  }

 private:
  static constexpr size_t kLeafSize = 8;

  void EmitTree(const std::vector<SyscallRules>& syscalls, size_t begin, size_t end) {
    if (end - begin <= kLeafSize) return EmitLeaf(syscalls, begin, end);
    size_t middle = begin + (end - begin) / 2;
    Label upperHalf = a_.NewLabel();
    Label lowerHalf = a_.NewLabel();
    a_.Jump(BPF_JGE, syscalls[middle].number, upperHalf, lowerHalf);
    a_.Bind(lowerHalf);
    EmitTree(syscalls, begin, middle);
    a_.Bind(upperHalf);
    EmitTree(syscalls, middle, end);
  }

  // A run of `jeq nr`, then `ret default`, then the leaf's own returns and argument-check bodies:
  // all close by, so these jumps stay short.
  void EmitLeaf(const std::vector<SyscallRules>& syscalls, size_t begin, size_t end) {
    std::map<uint32_t, Label> leafReturns;
    std::vector<std::pair<Label, const SyscallRules*>> bodies;
    for (size_t i = begin; i < end; i++) {
      const SyscallRules& entry = syscalls[i];
      Label target;
      if (entry.rules.front()->args.empty()) {
        uint32_t action = entry.rules.front()->action;
        if (!leafReturns.count(action)) leafReturns[action] = a_.NewLabel();
        target = leafReturns[action];
      } else {
        target = a_.NewLabel();
        bodies.push_back({target, &entry});
      }
      Label next = a_.NewLabel();
      a_.Jump(BPF_JEQ, entry.number, target, next);
      a_.Bind(next);
    }
    a_.Return(defaultAction_);
    for (const auto& [action, label] : leafReturns) {
      a_.Bind(label);
      a_.Return(action);
    }
    for (const auto& [label, entry] : bodies) {
      a_.Bind(label);
      EmitBody(*entry);
    }
  }

  // Rules for one syscall, ORed in order; each rule's argument checks are ANDed.
  void EmitBody(const SyscallRules& entry) {
    for (const CompiledRule* rule : entry.rules) {
      if (rule->args.empty()) {  // unconditional: later rules can never be reached
        a_.Return(rule->action);
        return;
      }
      Label nextRule = a_.NewLabel();
      for (const CompiledArg& arg : rule->args) EmitArgCheck(a_, *abi_, arg, nextRule);
      a_.Return(rule->action);
      a_.Bind(nextRule);
    }
    a_.Return(defaultAction_);
  }

  Assembler& a_;
  const AbiSpec* abi_ = nullptr;  // the ABI being emitted (argument width)
  uint32_t defaultAction_;
  std::map<uint32_t, Label> sharedReturns_;
};

std::vector<SyscallRules> RulesByNumber(const AbiSpec& abi, const SeccompFilter& filter,
                                        const std::vector<CompiledRule>& compiled) {
  std::map<uint32_t, SyscallRules> byNumber;
  for (size_t r = 0; r < filter.rules.size(); r++) {
    std::vector<uint32_t> seen;  // a name listed twice in one rule counts once
    for (const std::string& name : filter.rules[r].names) {
      uint32_t number;
      if (!LookupSyscall(abi, name, number)) continue;  // unknown here: skipped, as the plan says
      if (std::find(seen.begin(), seen.end(), number) != seen.end()) continue;
      seen.push_back(number);
      SyscallRules& entry = byNumber[number];
      entry.number = number;
      entry.rules.push_back(&compiled[r]);
    }
  }
  std::vector<SyscallRules> sorted;
  for (auto& [number, entry] : byNumber) sorted.push_back(std::move(entry));
  return sorted;
}

bool IsForeignArch(const std::string& arch) {
  for (const char* foreign : kForeignArches)
    if (arch == foreign) return true;
  return false;
}

}  // namespace

int SeccompCompile(const SeccompFilter& filter, std::vector<sock_filter>& out, std::string& error) {
  uint32_t defaultAction;
  if (!ParseAction(filter.defaultAction, filter.defaultErrno, defaultAction)) {
    error = "unknown default action \"" + filter.defaultAction + "\"";
    return -EINVAL;
  }

  // Validate everything before generating code, so errors name the rule.
  std::vector<CompiledRule> compiled;
  for (size_t r = 0; r < filter.rules.size(); r++) {
    const SeccompRule& rule = filter.rules[r];
    std::string where = "rule " + std::to_string(r + 1) + ": ";
    CompiledRule c;
    if (!ParseAction(rule.action, rule.errnoRet, c.action)) {
      error = where + "unknown action \"" + rule.action + "\"";
      return -EINVAL;
    }
    for (const SeccompArg& arg : rule.args) {
      CompiledArg ca{arg.index, CmpOp::kEq, arg.value, arg.valueTwo};
      if (arg.index > 5) {
        error = where + "argument index " + std::to_string(arg.index) + " is not 0..5";
        return -EINVAL;
      }
      if (!ParseOp(arg.op, ca.op)) {
        error = where + "unknown comparison \"" + arg.op + "\"";
        return -EINVAL;
      }
      c.args.push_back(ca);
    }
    compiled.push_back(std::move(c));
  }

  bool withI386 = false, withX32 = false;
  for (const std::string& arch : filter.arches) {
    if (arch == "SCMP_ARCH_X86") withI386 = true;
    else if (arch == "SCMP_ARCH_X32") withX32 = true;
    else if (arch == "SCMP_ARCH_X86_64") continue;  // the native ABI is always filtered
    else if (!IsForeignArch(arch)) {
      error = "unknown architecture \"" + arch + "\"";
      return -EINVAL;
    }
  }

  Assembler a;
  FilterCompiler compiler(a, defaultAction);
  // Anything not covered (another arch, x32 when not listed) ends the process: a thread-kill would
  // leave the rest of the process running in an unknown state.
  Label badArch = compiler.ReturnLabel(SECCOMP_RET_KILL_PROCESS);
  Label x86 = a.NewLabel(), i386 = a.NewLabel(), x32 = a.NewLabel();
  Label notX86 = a.NewLabel();

  a.LoadWord(offsetof(struct seccomp_data, arch));
  a.Jump(BPF_JEQ, AUDIT_ARCH_X86_64, x86, notX86);
  a.Bind(notX86);
  if (withI386) {
    Label notI386 = a.NewLabel();
    a.Jump(BPF_JEQ, AUDIT_ARCH_I386, i386, notI386);
    a.Bind(notI386);
  }
  a.Goto(badArch);

  // x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry the x32 bit. nr == -1 (a tracer
  // skipping the call) has that bit too: it goes through the x86_64 table and meets the default.
  Label x86_64 = a.NewLabel(), highNumber = a.NewLabel();
  a.Bind(x86);
  a.LoadWord(offsetof(struct seccomp_data, nr));
  a.Jump(BPF_JGE, kX32SyscallBit, highNumber, x86_64);
  a.Bind(highNumber);
  a.Jump(BPF_JEQ, 0xffffffffu, x86_64, withX32 ? x32 : badArch);
  a.Bind(x86_64);
  compiler.EmitAbi(kX86_64, RulesByNumber(kX86_64, filter, compiled));

  if (withX32) {
    a.Bind(x32);
    compiler.EmitAbi(kX32, RulesByNumber(kX32, filter, compiled));
  }
  if (withI386) {
    a.Bind(i386);
    a.LoadWord(offsetof(struct seccomp_data, nr));
    compiler.EmitAbi(kI386, RulesByNumber(kI386, filter, compiled));
  }
  compiler.EmitSharedReturns();
  return a.Finish(out, error);
}

int SeccompLoad(const std::vector<sock_filter>& program, const std::vector<std::string>& flags, int* listener) {
  if (program.empty() || program.size() > BPF_MAXINSNS) return -EINVAL;
  unsigned int kernelFlags = 0;
  for (const std::string& flag : flags) {
    // Plan names, plus the OCI spellings in case a caller passes those through.
    if (flag == "log" || flag == "SECCOMP_FILTER_FLAG_LOG") kernelFlags |= SECCOMP_FILTER_FLAG_LOG;
    else if (flag == "spec-allow" || flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
      kernelFlags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else return -EINVAL;
  }
  // The kernel makes the notify fd close-on-exec: it never reaches the container's program.
  if (listener) kernelFlags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  sock_fprog prog{static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
  // prctl works on every seccomp-capable kernel; seccomp(2) is needed only to pass flags.
  long rc = kernelFlags == 0 ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)
                             : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, kernelFlags, &prog);
  if (rc < 0) return -errno;
  if (listener) *listener = static_cast<int>(rc);
  return 0;
}

bool SeccompNeedsListener(const SeccompFilter& filter) {
  if (filter.defaultAction == "notify") return true;
  for (const SeccompRule& rule : filter.rules) {
    if (rule.action == "notify") return true;
  }
  return false;
}

namespace {
const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string SeccompProgramToBase64(const std::vector<sock_filter>& program) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(program.data());
  const size_t size = program.size() * sizeof(sock_filter);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    uint32_t chunk = static_cast<uint32_t>(bytes[i]) << 16;
    if (i + 1 < size) chunk |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (i + 2 < size) chunk |= bytes[i + 2];
    out += kBase64[(chunk >> 18) & 63];
    out += kBase64[(chunk >> 12) & 63];
    out += i + 1 < size ? kBase64[(chunk >> 6) & 63] : '=';
    out += i + 2 < size ? kBase64[chunk & 63] : '=';
  }
  return out;
}

bool SeccompProgramFromBase64(const std::string& text, std::vector<sock_filter>& program) {
  if (text.size() % 4 != 0) return false;
  // Straight into the program's memory: no second copy on the heap.
  const size_t padding = text.size() >= 4 ? (text[text.size() - 1] == '=') + (text[text.size() - 2] == '=') : 0;
  const size_t size = text.size() / 4 * 3 - padding;
  if (size == 0 || size % sizeof(sock_filter) != 0) return false;
  program.resize(size / sizeof(sock_filter));
  auto* bytes = reinterpret_cast<unsigned char*>(program.data());
  size_t at = 0;
  for (size_t i = 0; i < text.size(); i += 4) {
    uint32_t chunk = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; j++) {
      const char ch = text[i + j];
      uint32_t v;
      if (ch >= 'A' && ch <= 'Z') v = static_cast<uint32_t>(ch - 'A');
      else if (ch >= 'a' && ch <= 'z') v = static_cast<uint32_t>(ch - 'a' + 26);
      else if (ch >= '0' && ch <= '9') v = static_cast<uint32_t>(ch - '0' + 52);
      else if (ch == '+') v = 62;
      else if (ch == '/') v = 63;
      else if (ch == '=' && i + 4 == text.size() && j >= 2) v = 0, pad++;
      else return false;
      if (pad && ch != '=') return false;  // data after padding
      chunk = chunk << 6 | v;
    }
    bytes[at++] = static_cast<unsigned char>(chunk >> 16);
    if (pad < 2) bytes[at++] = static_cast<unsigned char>(chunk >> 8);
    if (pad < 1) bytes[at++] = static_cast<unsigned char>(chunk);
  }
  return at == size;
}

}  // namespace hull

#ifdef HULL_ADDON
// The addon's compileSeccomp: the same compiler, run once per sandbox shape in Node instead of in
// every helper (the helper then loads the program of a `seccomp-bpf` op as is).
#include "addon.h"
#include "errors.h"
#include "text.h"

namespace hull {
namespace {

bool ParseDecimal(const std::string& text, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  out = strtoull(text.c_str(), &end, 10);
  return !text.empty() && !*end && !errno;
}

[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message) {
  Napi::Error error = SystemError(env, EINVAL, "seccomp");
  error.Set("message", Napi::String::New(env, "seccomp: " + message));
  throw error;
}

// compileSeccomp(ops): ops are the plan's `seccomp` op and its `seccomp-rule` ops, each as
// [op, ...fields] (docs/internals/plan.md). Returns the program as base64, the `seccomp-bpf` field.
Napi::Value CompileSeccompBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array ops = info[0].As<Napi::Array>();
  SeccompFilter filter;
  bool started = false;
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Array op = ops.Get(i).As<Napi::Array>();
    std::vector<std::string> f;
    for (uint32_t j = 0; j < op.Length(); j++) f.push_back(op.Get(j).As<Napi::String>().Utf8Value());
    uint64_t number = 1;
    if (f.size() == 5 && f[0] == "seccomp" && !started) {
      filter.defaultAction = f[1];
      if (!f[2].empty() && !ParseDecimal(f[2], number)) ThrowInvalid(env, "not a number: \"" + f[2] + "\"");
      filter.defaultErrno = static_cast<int>(number);
      filter.flags = SplitList(f[3]);
      filter.arches = SplitList(f[4]);
      started = true;
    } else if (f.size() == 5 && f[0] == "seccomp-rule" && started) {
      SeccompRule rule;
      rule.action = f[1];
      if (!f[2].empty() && !ParseDecimal(f[2], number)) ThrowInvalid(env, "not a number: \"" + f[2] + "\"");
      rule.errnoRet = static_cast<int>(number);
      rule.names = SplitList(f[3]);
      for (const std::string& text : SplitList(f[4])) {
        std::vector<std::string> parts = SplitList(text, ':');
        SeccompArg arg{0, "", 0, 0};
        uint64_t index = 0;
        if (parts.size() < 3 || !ParseDecimal(parts[0], index) || !ParseDecimal(parts[2], arg.value) ||
            (parts.size() > 3 && !ParseDecimal(parts[3], arg.valueTwo))) {
          ThrowInvalid(env, "bad seccomp arg \"" + text + "\"");
        }
        arg.index = static_cast<unsigned>(index);
        arg.op = parts[1];
        rule.args.push_back(arg);
      }
      filter.rules.push_back(rule);
    } else {
      ThrowInvalid(env, "op " + std::to_string(i) + " is not a seccomp or seccomp-rule op in order");
    }
  }
  if (!started) ThrowInvalid(env, "no seccomp op");
  std::vector<sock_filter> program;
  std::string error;
  int rc = SeccompCompile(filter, program, error);
  if (rc < 0) ThrowInvalid(env, error.empty() ? std::string(strerror(-rc)) : error);
  return Napi::String::New(env, SeccompProgramToBase64(program));
}

}  // namespace

void RegisterSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("compileSeccomp", Napi::Function::New(env, CompileSeccompBinding, "compileSeccomp"));
}

}  // namespace hull
#endif  // HULL_ADDON
