// seccomp-harness: compile a filter with hull's seccomp.cc, load it in a forked child and report what
// a list of raw syscalls returned. Used by test/integration/seccomp-*.test.ts; build with
//   g++ -std=c++17 -O1 -I native native/test/seccomp-harness.cc native/seccomp.cc -o harness
//
// Reads lines on stdin (fields separated by spaces, numbers in C syntax: 8, 0x7E020000, -1):
//   default <action> [errno]                      defaults: errno 1
//   flags <comma list>                            log, spec-allow
//   arches <comma list>                           SCMP_ARCH_X86_64,SCMP_ARCH_X32,SCMP_ARCH_X86
//   rule <action> <errno> <names,comma> [index:op:value:valueTwo,...]
//   call <name> [args]      an x86_64 syscall; the name may be #N for syscall number N
//   callx32 <name> [args]   the x32 ABI: the x86_64 number with the 0x40000000 bit
//   call32 <name> [args]    the i386 ABI through `int $0x80` (at most 5 arguments)
//   nofilter                run the calls without loading a filter (to probe the kernel)
//   dump                    print the compiled program, one instruction per line, like bpf_asm -c
// A call argument is a number or str:TEXT (a pointer to TEXT in the low 4 GiB, usable by i386 calls).
//
// Prints `compiled <instructions>` (or `compile-error <message>` and exits 2), then one line per call,
// `<index> <name> ok <return value>` or `<index> <name> err <ERRNO name>`, then how the child ended:
// `exit <code>` or `signal <number>`. Calls the child never reached print nothing.
#include "seccomp.h"
#include "syscalls_x86.h"  // the harness names its own calls with the filter's tables

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

enum class Abi { kX86_64, kX32, kI386 };

struct Call {
  Abi abi;
  std::string name;
  long number;
  std::vector<long> args;
};

// Written by the filtered child, read by the parent: the child needs no syscall to report.
struct Result {
  int done;
  long value;
  int error;
};

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

uint64_t Number(const std::string& text) { return std::strtoull(text.c_str(), nullptr, 0); }

bool FindNumber(const hull::SyscallEntry* table, size_t size, const std::string& name, long& number) {
  for (size_t i = 0; i < size; i++) {
    if (name == table[i].name) {
      number = table[i].number;
      return true;
    }
  }
  for (const hull::SyscallEntry& entry : hull::kNewerSyscalls) {
    if (name == entry.name) {
      number = entry.number;
      return true;
    }
  }
  return false;
}

// Strings for call arguments live below 4 GiB so 32-bit (i386) calls can point at them too.
long LowString(const std::string& text) {
  void* memory = mmap(nullptr, text.size() + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (memory == MAP_FAILED) {
    perror("mmap");
    std::exit(2);
  }
  std::memcpy(memory, text.c_str(), text.size() + 1);
  return reinterpret_cast<long>(memory);
}

long Int80(long number, const std::vector<long>& a) {
  long arg[5] = {0, 0, 0, 0, 0};
  for (size_t i = 0; i < a.size() && i < 5; i++) arg[i] = a[i];
  long result;
  asm volatile("int $0x80"
               : "=a"(result)
               : "a"(number), "b"(arg[0]), "c"(arg[1]), "d"(arg[2]), "S"(arg[3]), "D"(arg[4])
               : "memory", "r8", "r9", "r10", "r11");
  return static_cast<int>(result);  // the i386 ABI returns a 32-bit value
}

void RunCall(const Call& call, Result& result) {
  long a[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < call.args.size() && i < 6; i++) a[i] = call.args[i];
  long value;
  int error = 0;
  if (call.abi == Abi::kI386) {
    value = Int80(call.number, call.args);
    if (value < 0 && value >= -4095) error = static_cast<int>(-value);
  } else {
    errno = 0;
    value = syscall(call.number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (value == -1) error = errno;
  }
  // A clone/fork that succeeded: the new process leaves at once.
  bool forks = call.name == "clone" || call.name == "fork" || call.name == "vfork" || call.name == "clone3";
  if (forks && value == 0 && error == 0) _exit(0);
  result.value = value;
  result.error = error;
  result.done = 1;
}

}  // namespace

int main() {
  hull::SeccompFilter filter;
  filter.defaultAction = "errno";
  std::vector<Call> calls;
  bool loadFilter = true;
  bool dump = false;

  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> f;
    for (const std::string& word : Split(line, ' '))
      if (!word.empty()) f.push_back(word);
    if (f.empty() || f[0][0] == '#') continue;
    const std::string& op = f[0];
    if (op == "default" && f.size() >= 2) {
      filter.defaultAction = f[1];
      if (f.size() >= 3) filter.defaultErrno = static_cast<int>(Number(f[2]));
    } else if (op == "flags" && f.size() == 2) {
      filter.flags = Split(f[1], ',');
    } else if (op == "arches" && f.size() == 2) {
      filter.arches = Split(f[1], ',');
    } else if (op == "rule" && f.size() >= 4) {
      hull::SeccompRule rule{f[1], static_cast<int>(Number(f[2])), Split(f[3], ','), {}};
      if (f.size() >= 5) {
        for (const std::string& arg : Split(f[4], ',')) {
          std::vector<std::string> p = Split(arg, ':');
          if (p.size() != 4) {
            std::cerr << "bad argument condition: " << arg << "\n";
            return 2;
          }
          rule.args.push_back({static_cast<unsigned>(Number(p[0])), p[1], Number(p[2]), Number(p[3])});
        }
      }
      filter.rules.push_back(rule);
    } else if ((op == "call" || op == "callx32" || op == "call32") && f.size() >= 2) {
      Call call{op == "call" ? Abi::kX86_64 : op == "callx32" ? Abi::kX32 : Abi::kI386, f[1], 0, {}};
      // `#N` calls syscall number N, e.g. one newer than every table.
      bool found = f[1][0] == '#' ? (call.number = static_cast<long>(Number(f[1].substr(1))), true)
                 : call.abi == Abi::kI386
                       ? FindNumber(hull::kI386Syscalls, sizeof(hull::kI386Syscalls) / sizeof(hull::SyscallEntry), f[1], call.number)
                       : FindNumber(hull::kX86_64Syscalls, sizeof(hull::kX86_64Syscalls) / sizeof(hull::SyscallEntry), f[1], call.number);
      if (!found) {
        std::cerr << "unknown syscall: " << f[1] << "\n";
        return 2;
      }
      if (call.abi == Abi::kX32) call.number |= 0x40000000;
      for (size_t i = 2; i < f.size(); i++)
        call.args.push_back(f[i].rfind("str:", 0) == 0 ? LowString(f[i].substr(4)) : static_cast<long>(Number(f[i])));
      calls.push_back(call);
    } else if (op == "nofilter") {
      loadFilter = false;
    } else if (op == "dump") {
      dump = true;
    } else {
      std::cerr << "cannot parse: " << line << "\n";
      return 2;
    }
  }

  std::vector<sock_filter> program;
  std::string error;
  if (hull::SeccompCompile(filter, program, error) != 0) {
    std::cout << "compile-error " << error << std::endl;
    return 2;
  }
  std::cout << "compiled " << program.size() << std::endl;
  for (size_t i = 0; dump && i < program.size(); i++) {
    const sock_filter& f = program[i];
    std::printf("%4zu: { 0x%02x, %3u, %3u, 0x%08x },\n", i, f.code, f.jt, f.jf, f.k);
  }
  std::fflush(stdout);

  auto* results = static_cast<Result*>(mmap(nullptr, sizeof(Result) * (calls.size() + 1), PROT_READ | PROT_WRITE,
                                            MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (results == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 2;
  }
  if (child == 0) {
    if (loadFilter) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
      int rc = hull::SeccompLoad(program, filter.flags);
      if (rc != 0) _exit(100 + (-rc & 0x7f));  // 100 + errno, so the test can tell
    }
    for (size_t i = 0; i < calls.size(); i++) RunCall(calls[i], results[i]);
    _exit(0);
  }

  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  for (size_t i = 0; i < calls.size(); i++) {
    if (!results[i].done) continue;
    std::cout << i << " " << calls[i].name << " ";
    if (results[i].error != 0) std::cout << "err " << strerrorname_np(results[i].error) << "\n";
    else std::cout << "ok " << results[i].value << "\n";
  }
  if (WIFSIGNALED(status)) std::cout << "signal " << WTERMSIG(status) << "\n";
  else std::cout << "exit " << WEXITSTATUS(status) << "\n";
  return 0;
}
