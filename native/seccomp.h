// seccomp: the filter described by a plan's `seccomp`/`seccomp-rule` ops, compiled to classic BPF.
// Built in hull's own code (no libseccomp at build time): arch check, syscall table, 64-bit
// argument comparisons, actions. Contract between plan.cc/helper.cc and seccomp.cc.
#pragma once
#include <linux/filter.h>
#include <cstdint>
#include <string>
#include <vector>

namespace hull {

struct SeccompArg {
  unsigned index;    // 0..5
  std::string op;    // ne lt le eq ge gt masked-eq
  uint64_t value;
  uint64_t valueTwo;
};

struct SeccompRule {
  std::string action;  // kill-process kill-thread trap errno trace allow log notify
  int errnoRet;        // for errno/trace
  std::vector<std::string> names;  // syscall names; unknown names are skipped
  std::vector<SeccompArg> args;    // all must match (AND); rules with the same syscall are ORed in order
};

struct SeccompFilter {
  std::string defaultAction;
  int defaultErrno = 1;
  std::vector<std::string> flags;   // log, spec-allow
  std::vector<std::string> arches;  // OCI names: SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64...
  std::vector<SeccompRule> rules;
};

// Compile to BPF. Returns 0, or -EINVAL with a readable reason in `error` (no "seccomp:" prefix:
// the caller adds its own), e.g. `rule 3: unknown comparison "like"`. Layout: docs/internals/seccomp.md.
// Names unknown on an ABI are skipped; arches: the native x86_64 ABI is always filtered, x32 and
// i386 only when listed (otherwise their syscalls kill the process); other OCI arch names are ignored.
int SeccompCompile(const SeccompFilter& filter, std::vector<sock_filter>& out, std::string& error);
// Install with seccomp(SECCOMP_SET_MODE_FILTER) (flags mapped to SECCOMP_FILTER_FLAG_*). Returns 0 or -errno.
// Needs no_new_privs or CAP_SYS_ADMIN. Without flags it uses prctl(PR_SET_SECCOMP); an unknown flag is -EINVAL.
// `listener` non-null: SECCOMP_FILTER_FLAG_NEW_LISTENER, and *listener gets the notify fd (close-on-exec)
// the `notify` rules report to (seccomp_unotify(2)); whoever holds it answers those syscalls.
int SeccompLoad(const std::vector<sock_filter>& program, const std::vector<std::string>& flags, int* listener = nullptr);
// True if a rule (or the default) says `notify`: the filter needs a listener.
bool SeccompNeedsListener(const SeccompFilter& filter);

// A compiled program as a `seccomp-bpf` plan field: the sock_filter array (host byte order) in
// base64 (no TAB, newline or backslash: nothing to escape). Decode returns false on bad input or a
// length that is not a whole number of instructions.
std::string SeccompProgramToBase64(const std::vector<sock_filter>& program);
bool SeccompProgramFromBase64(const std::string& text, std::vector<sock_filter>& program);

}  // namespace hull
