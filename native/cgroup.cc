// eBPF device filters for cgroup v2 (BPF_PROG_TYPE_CGROUP_DEVICE).
//
// cgroup v2 has no devices.allow/devices.deny files: the kernel asks a BPF program attached to the
// cgroup instead. For every open/mknod of a device node it runs the program with
// struct bpf_cgroup_dev_ctx { access_type = (access << 16) | type, major, minor } and the program
// returns 1 (allow) or 0 (deny: EPERM). We compile the OCI linux.resources.devices rules into such a
// program: rules are checked from last to first, the first that matches decides (so the last
// matching rule wins), and a request no rule matches is denied.
//
// Matching, as the v1 devices controller does: an allow rule must cover every requested access bit
// (open O_RDWR asks for r and w); a deny rule matches when it names any of them.
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace hull {

namespace {

// ===== The instruction encoder =====
// struct bpf_insn is { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }. Only the handful of
// instructions the filter needs, named after what they do.

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn insn = {};
  insn.code = code;
  insn.dst_reg = dst;
  insn.src_reg = src;
  insn.off = off;
  insn.imm = imm;
  return insn;
}
// dst = *(u32 *)(src + off)
bpf_insn LoadWord(uint8_t dst, uint8_t src, int16_t off) { return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0); }
// 32-bit ALU on an immediate (the upper half of dst becomes 0).
bpf_insn Alu32Imm(uint8_t op, uint8_t dst, int32_t imm) { return Insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
// w_dst = w_src
bpf_insn Mov32Reg(uint8_t dst, uint8_t src) { return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
// r_dst = imm
bpf_insn Mov64Imm(uint8_t dst, int32_t imm) { return Insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
// if (w_dst <op> imm) goto pc + 1 + off   (32-bit compare: majors/minors are u32)
bpf_insn Jump32Imm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) { return Insn(BPF_JMP32 | op | BPF_K, dst, 0, off, imm); }
bpf_insn Exit() { return Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

// Registers: r1 = ctx on entry, then a scratch register; r2..r5 the request, r0 the verdict.
constexpr uint8_t kScratch = 1, kType = 2, kAccess = 3, kMajor = 4, kMinor = 5;

struct DeviceRule {
  bool allow = false;
  char type = 'a';      // 'a' (all), 'c', 'b'
  int64_t major = -1;   // -1: any
  int64_t minor = -1;
  uint32_t access = 0;  // BPF_DEVCG_ACC_* bits
};

constexpr uint32_t kAllAccess = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

// Compile the rules. Each rule is one block that either returns its verdict or falls through to
// the block of the rule before it ("goto next" = jump to the end of the block).
std::vector<bpf_insn> CompileDeviceFilter(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> prog = {
      LoadWord(kType, 1, offsetof(bpf_cgroup_dev_ctx, access_type)),
      Alu32Imm(BPF_AND, kType, 0xffff),
      LoadWord(kAccess, 1, offsetof(bpf_cgroup_dev_ctx, access_type)),
      Alu32Imm(BPF_RSH, kAccess, 16),
      LoadWord(kMajor, 1, offsetof(bpf_cgroup_dev_ctx, major)),
      LoadWord(kMinor, 1, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (auto rule = rules.rbegin(); rule != rules.rend(); ++rule) {
    std::vector<bpf_insn> block;
    std::vector<size_t> skips;  // jumps to patch to the end of the block
    auto skipUnless = [&](uint8_t reg, int32_t value) {
      skips.push_back(block.size());
      block.push_back(Jump32Imm(BPF_JNE, reg, value, 0));
    };
    if (rule->type != 'a') skipUnless(kType, rule->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    if (rule->major >= 0) skipUnless(kMajor, static_cast<int32_t>(rule->major));
    if (rule->minor >= 0) skipUnless(kMinor, static_cast<int32_t>(rule->minor));
    if ((rule->access & kAllAccess) != kAllAccess) {
      block.push_back(Mov32Reg(kScratch, kAccess));
      skips.push_back(block.size() + 1);
      if (rule->allow) {
        // Requested bits outside the rule: not covered.
        block.push_back(Alu32Imm(BPF_AND, kScratch, static_cast<int32_t>(~rule->access & kAllAccess)));
        block.push_back(Jump32Imm(BPF_JNE, kScratch, 0, 0));
      } else {
        // None of the requested bits named by the rule: not concerned.
        block.push_back(Alu32Imm(BPF_AND, kScratch, static_cast<int32_t>(rule->access)));
        block.push_back(Jump32Imm(BPF_JEQ, kScratch, 0, 0));
      }
    }
    block.push_back(Mov64Imm(0, rule->allow ? 1 : 0));
    block.push_back(Exit());
    for (size_t at : skips) block[at].off = static_cast<int16_t>(block.size() - at - 1);
    prog.insert(prog.end(), block.begin(), block.end());
    // A rule that matches everything ("a *:* rwm") decides alone: the rules before it and the
    // default can never run, and the verifier refuses unreachable instructions.
    if (skips.empty()) return prog;
  }
  prog.push_back(Mov64Imm(0, 0));  // no rule matched: deny
  prog.push_back(Exit());
  return prog;
}

// ===== bpf(2) =====

long Bpf(int cmd, bpf_attr& attr) { return syscall(SYS_bpf, cmd, &attr, sizeof attr); }

// Load the program. On failure, load again with the verifier log on so the error says why.
int LoadDeviceProgram(Napi::Env env, const std::vector<bpf_insn>& prog) {
  static const char kLicense[] = "Apache-2.0";
  auto load = [&](char* log, uint32_t logSize) {
    bpf_attr attr = {};
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.expected_attach_type = BPF_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<uintptr_t>(prog.data());
    attr.insn_cnt = static_cast<uint32_t>(prog.size());
    attr.license = reinterpret_cast<uintptr_t>(kLicense);
    attr.log_buf = reinterpret_cast<uintptr_t>(log);
    attr.log_size = logSize;
    attr.log_level = log ? 1 : 0;
    strncpy(attr.prog_name, "hull_devices", sizeof attr.prog_name - 1);
    return static_cast<int>(Bpf(BPF_PROG_LOAD, attr));
  };
  int fd = load(nullptr, 0);
  if (fd >= 0) return fd;
  int err = errno;
  if (err != EINVAL && err != EACCES) ThrowSystemError(env, err, "bpf(BPF_PROG_LOAD)");
  std::vector<char> log(64 * 1024);
  if (load(log.data(), static_cast<uint32_t>(log.size())) >= 0) {
    ThrowSystemError(env, err, "bpf(BPF_PROG_LOAD)");  // failed once, passed with the log: report the first
  }
  err = errno;
  log.back() = '\0';
  std::string text(log.data());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  Napi::Error error = SystemError(env, err, "bpf(BPF_PROG_LOAD)");
  error.Value().Set("message", Napi::String::New(env, error.Message() + "; verifier: " + text));
  error.Value().Set("verifierLog", Napi::String::New(env, text));
  throw error;
}

int OpenCgroupDir(Napi::Env env, const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowSystemError(env, errno, "open", dir);
  return fd;
}

// Ids of the device programs attached to the cgroup itself (not inherited from ancestors).
std::vector<uint32_t> QueryDevicePrograms(Napi::Env env, int cgroupFd, const std::string& dir) {
  std::vector<uint32_t> ids(64);
  bpf_attr attr = {};
  attr.query.target_fd = static_cast<uint32_t>(cgroupFd);
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = reinterpret_cast<uintptr_t>(ids.data());
  attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
  if (Bpf(BPF_PROG_QUERY, attr) < 0) ThrowSystemError(env, errno, "bpf(BPF_PROG_QUERY)", dir);
  ids.resize(attr.query.prog_cnt);
  return ids;
}

void DetachProgram(Napi::Env env, int cgroupFd, uint32_t id, const std::string& dir) {
  bpf_attr byId = {};
  byId.prog_id = id;
  int progFd = static_cast<int>(Bpf(BPF_PROG_GET_FD_BY_ID, byId));
  if (progFd < 0) {
    if (errno == ENOENT) return;  // gone meanwhile
    ThrowSystemError(env, errno, "bpf(BPF_PROG_GET_FD_BY_ID)", dir);
  }
  bpf_attr attr = {};
  attr.target_fd = static_cast<uint32_t>(cgroupFd);
  attr.attach_bpf_fd = static_cast<uint32_t>(progFd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  long rc = Bpf(BPF_PROG_DETACH, attr);
  int err = errno;
  close(progFd);
  if (rc < 0 && err != ENOENT) ThrowSystemError(env, err, "bpf(BPF_PROG_DETACH)", dir);
}

// ===== JS side =====

std::vector<DeviceRule> RulesFromJs(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "device rules: expected an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<DeviceRule> rules;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "device rules: expected objects");
    Napi::Object o = item.As<Napi::Object>();
    const std::string where = "device rule " + std::to_string(i);
    DeviceRule rule;
    rule.allow = o.Get("allow").ToBoolean();
    Napi::Value type = o.Get("type");
    std::string t = type.IsString() ? type.As<Napi::String>().Utf8Value() : "a";
    if (t != "a" && t != "c" && t != "b") throw Napi::TypeError::New(env, where + ": type must be a, c or b");
    rule.type = t[0];
    for (const char* key : {"major", "minor"}) {
      Napi::Value n = o.Get(key);
      int64_t number = n.IsNumber() ? n.As<Napi::Number>().Int64Value() : -1;
      if (number > 0x7fffffff) throw Napi::RangeError::New(env, where + ": " + key + " out of range");
      (key[1] == 'a' ? rule.major : rule.minor) = number < 0 ? -1 : number;
    }
    Napi::Value access = o.Get("access");
    std::string a = access.IsString() ? access.As<Napi::String>().Utf8Value() : "";
    if (a.empty()) a = "rwm";
    for (char c : a) {
      if (c == 'r') rule.access |= BPF_DEVCG_ACC_READ;
      else if (c == 'w') rule.access |= BPF_DEVCG_ACC_WRITE;
      else if (c == 'm') rule.access |= BPF_DEVCG_ACC_MKNOD;
      else throw Napi::TypeError::New(env, where + ": access \"" + a + "\" is not a subset of rwm");
    }
    rules.push_back(rule);
  }
  return rules;
}

// compileDeviceFilter(rules) -> Buffer of struct bpf_insn (for tests and `--explain`).
Napi::Value CompileDeviceFilterJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<bpf_insn> prog = CompileDeviceFilter(RulesFromJs(env, info[0]));
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(prog.data()), prog.size() * sizeof(bpf_insn));
}

// setDeviceFilter(cgroupDir, rules) -> program id. Attach the new program first, then detach the
// ones attached before: in between both run and a device must pass both, so nothing is ever
// allowed that either rule set denies.
Napi::Value SetDeviceFilterJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "setDeviceFilter: expected (cgroupDir, rules)");
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  std::vector<bpf_insn> prog = CompileDeviceFilter(RulesFromJs(env, info[1]));
  int cgroupFd = OpenCgroupDir(env, dir);
  int progFd = -1;
  try {
    std::vector<uint32_t> before = QueryDevicePrograms(env, cgroupFd, dir);
    progFd = LoadDeviceProgram(env, prog);
    bpf_attr attr = {};
    attr.target_fd = static_cast<uint32_t>(cgroupFd);
    attr.attach_bpf_fd = static_cast<uint32_t>(progFd);
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (Bpf(BPF_PROG_ATTACH, attr) < 0) ThrowSystemError(env, errno, "bpf(BPF_PROG_ATTACH)", dir);
    for (uint32_t id : before) DetachProgram(env, cgroupFd, id, dir);
    bpf_prog_info progInfo = {};
    bpf_attr infoAttr = {};
    infoAttr.info.bpf_fd = static_cast<uint32_t>(progFd);
    infoAttr.info.info_len = sizeof progInfo;
    infoAttr.info.info = reinterpret_cast<uintptr_t>(&progInfo);
    if (Bpf(BPF_OBJ_GET_INFO_BY_FD, infoAttr) < 0) ThrowSystemError(env, errno, "bpf(BPF_OBJ_GET_INFO_BY_FD)", dir);
    // The cgroup holds the program now; it is released when the cgroup is removed.
    close(progFd);
    close(cgroupFd);
    return Napi::Number::New(env, progInfo.id);
  } catch (...) {
    if (progFd >= 0) close(progFd);
    close(cgroupFd);
    throw;
  }
}

// deviceFilters(cgroupDir) -> ids of the device programs attached to that cgroup.
Napi::Value DeviceFiltersJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "deviceFilters: expected a cgroup directory");
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  int cgroupFd = OpenCgroupDir(env, dir);
  std::vector<uint32_t> ids;
  try {
    ids = QueryDevicePrograms(env, cgroupFd, dir);
  } catch (...) {
    close(cgroupFd);
    throw;
  }
  close(cgroupFd);
  Napi::Array out = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, ids[i]));
  return out;
}

// clearDeviceFilters(cgroupDir): detach every device program attached to that cgroup.
Napi::Value ClearDeviceFiltersJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "clearDeviceFilters: expected a cgroup directory");
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  int cgroupFd = OpenCgroupDir(env, dir);
  try {
    for (uint32_t id : QueryDevicePrograms(env, cgroupFd, dir)) DetachProgram(env, cgroupFd, id, dir);
  } catch (...) {
    close(cgroupFd);
    throw;
  }
  close(cgroupFd);
  return env.Undefined();
}

// bpfProgramExists(id): whether the kernel still has that program (leak checks in tests).
Napi::Value BpfProgramExistsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_attr attr = {};
  attr.prog_id = info[0].As<Napi::Number>().Uint32Value();
  int fd = static_cast<int>(Bpf(BPF_PROG_GET_FD_BY_ID, attr));
  if (fd >= 0) {
    close(fd);
    return Napi::Boolean::New(env, true);
  }
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  ThrowSystemError(env, errno, "bpf(BPF_PROG_GET_FD_BY_ID)");
}

// ===== cgroupfs file operations in bulk =====
// A v1 container start makes ~10 directories and writes ~15 control files, and its removal takes
// the directories away: each through fs.*Sync costs about three times the syscall's own time in
// JavaScript here, and the container process waits for them at `cgroup-wait`. The drivers decide
// what to do (src/cgroup/v1.ts); this only does it.

// mkdir -p; true if `dir` itself was made.
bool MakeDirs(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != ENOENT) throw errno;
  const size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) throw ENOENT;
  MakeDirs(dir.substr(0, slash));
  if (mkdir(dir.c_str(), 0755) == 0) return true;
  if (errno == EEXIST) return false;
  throw errno;
}

// Like fs.writeFileSync (O_CREAT|O_TRUNC, as unit tests use plain files for control files), one write(2).
void WriteFile(const std::string& file, const std::string& value) {
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw errno;
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n < 0) throw err;
}

// The file's content without surrounding whitespace ("" if it cannot be read).
std::string ReadTrimmed(const std::string& file) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buffer[4096];
  ssize_t n = read(fd, buffer, sizeof buffer);
  close(fd);
  std::string text(buffer, n > 0 ? static_cast<size_t>(n) : 0);
  const size_t first = text.find_first_not_of(" \t\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\n") - first + 1);
}

// cgroupFiles(ops): see src/native.ts. The first failure throws (syscall and path of that op,
// `index` = its position); `rmdir` reports its errno name instead of throwing.
Napi::Value CgroupFilesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array ops = info[0].As<Napi::Array>();
  Napi::Array results = Napi::Array::New(env, ops.Length());
  for (uint32_t i = 0; i < ops.Length(); i++) {
    Napi::Array op = ops.Get(i).As<Napi::Array>();
    const std::string kind = op.Get(0u).As<Napi::String>();
    const std::string file = op.Get(1u).As<Napi::String>();
    const std::string arg = op.Length() > 2 ? op.Get(2u).As<Napi::String>().Utf8Value() : "";
    const char* syscall = kind == "mkdir" ? "mkdir" : "write";
    try {
      if (kind == "mkdir") {
        results.Set(i, Napi::Boolean::New(env, MakeDirs(file)));
      } else if (kind == "write") {
        WriteFile(file, arg);
        results.Set(i, Napi::Boolean::New(env, true));
      } else if (kind == "inherit") {
        // A new v1 cpuset group has empty cpus/mems (and refuses tasks): copy the parent's down.
        if (!ReadTrimmed(file).empty()) {
          results.Set(i, env.Null());
          continue;
        }
        const std::string value = ReadTrimmed(arg);
        WriteFile(file, value);
        results.Set(i, Napi::String::New(env, value));
      } else if (kind == "rmdir") {
        results.Set(i, Napi::String::New(env, rmdir(file.c_str()) == 0 || errno == ENOENT ? "" : ErrnoName(errno)));
      } else {
        Napi::TypeError::New(env, "cgroupFiles: unknown op " + kind).ThrowAsJavaScriptException();
        return env.Undefined();
      }
    } catch (int err) {
      Napi::Error error = SystemError(env, err, syscall, file);
      error.Set("index", Napi::Number::New(env, i));
      throw error;
    }
  }
  return results;
}

}  // namespace

void RegisterCgroup(Napi::Env env, Napi::Object exports) {
  exports.Set("cgroupFiles", Napi::Function::New(env, CgroupFilesJs, "cgroupFiles"));
  exports.Set("compileDeviceFilter", Napi::Function::New(env, CompileDeviceFilterJs, "compileDeviceFilter"));
  exports.Set("setDeviceFilter", Napi::Function::New(env, SetDeviceFilterJs, "setDeviceFilter"));
  exports.Set("deviceFilters", Napi::Function::New(env, DeviceFiltersJs, "deviceFilters"));
  exports.Set("clearDeviceFilters", Napi::Function::New(env, ClearDeviceFiltersJs, "clearDeviceFilters"));
  exports.Set("bpfProgramExists", Napi::Function::New(env, BpfProgramExistsJs, "bpfProgramExists"));
}

}  // namespace hull
