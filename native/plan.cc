// Parsing the plan (docs/internals/plan.md). Nothing here touches the kernel: the helper reads the
// whole plan first, so a typo in an op name fails before any namespace or mount exists.
#include "plan.h"

#include <iterator>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace hull {

namespace {

// Every op the helper knows and the number of fields it needs. An unknown op is an error, not a
// skipped line: silently ignoring a security setting would be worse than failing.
struct OpShape {
  const char* op;
  size_t fields;
};
const OpShape kOps[] = {
    // process and monitor
    {"mode", 1}, {"detach", 1}, {"monitor", 1}, {"trace", 1}, {"id", 1}, {"state-dir", 1}, {"exec-fifo", 1},
    {"console-socket", 1}, {"terminal", 1}, {"console-size", 2}, {"log-file", 3}, {"oom-check", 1}, {"exit-command", 1}, {"attach-socket", 2}, {"seccomp-listener", 4}, {"setns", 2}, {"clone", 1}, {"setgroups", 1},
    {"uid-map", 3}, {"gid-map", 3}, {"cgroup-join", 1}, {"cgroup-clone-into", 1}, {"rlimit", 3}, {"oom-score-adj", 1},
    {"sync", 1}, {"cgroup-wait", 0}, {"time-offset", 3},
    // mount phase
    {"propagation", 1}, {"rootfs", 1}, {"mount", 6}, {"mount-setattr", 3}, {"mount-idmap", 9}, {"mkdev", 7}, {"symlink", 2}, {"pivot", 1},
    {"rootfs-propagation", 1}, {"readonly-root", 0}, {"mask", 1}, {"readonly", 1},
    // process attributes
    {"hostname", 1}, {"domainname", 1}, {"sysctl", 2}, {"umask", 1}, {"nnp", 0}, {"seccomp", 4},
    {"seccomp-rule", 4}, {"seccomp-load", 0}, {"seccomp-bpf", 4}, {"user", 3}, {"caps", 5}, {"preserve-fds", 1},
    {"cwd", 1}, {"env", 1}, {"arg", 1}, {"start-hook", 3}, {"start-hook-arg", 1}, {"start-hook-env", 1}, {"exec", 0},
};

const OpShape* FindOp(const std::string& op) {
  for (const OpShape& shape : kOps) {
    if (op == shape.op) return &shape;
  }
  return nullptr;
}

}  // namespace

int LineReader::Fill() {
  // 16 KiB: a sandbox plan (~3-4 KB) in one read, without pushing the stack 64 KiB down (each
  // new page under it is a page fault in every helper).
  char chunk[16384];
  for (;;) {
    ssize_t n = read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    buffer_.append(chunk, static_cast<size_t>(n));
    return static_cast<int>(n);
  }
}

bool LineReader::NextLine(std::string& line) {
  size_t newline = buffer_.find('\n');
  if (newline == std::string::npos) return false;
  line.assign(buffer_, 0, newline);
  buffer_.erase(0, newline + 1);
  return true;
}

bool ParseLine(const std::string& line, std::vector<std::string>& fields, std::string& error) {
  fields.assign(1, std::string());
  for (size_t i = 0; i < line.size(); i++) {
    char c = line[i];
    if (c == '\t') {
      fields.emplace_back();
    } else if (c == '\\') {
      char next = i + 1 < line.size() ? line[i + 1] : '\0';
      if (next == '\\') fields.back() += '\\';
      else if (next == 't') fields.back() += '\t';
      else if (next == 'n') fields.back() += '\n';
      else {
        error = "bad escape \\" + std::string(1, next) + " in line: " + line;
        return false;
      }
      i++;
    } else {
      // A run of plain characters in one append: a long field (a seccomp-bpf program, ~7 KB) is
      // allocated once instead of doubled byte by byte (fresh heap pages are page faults).
      size_t end = line.find_first_of("\t\\", i);
      if (end == std::string::npos) end = line.size();
      fields.back().append(line, i, end - i);
      i = end - 1;
    }
  }
  return true;
}

std::string FormatLine(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); i++) {
    if (i > 0) line += '\t';
    for (char c : fields[i]) {
      if (c == '\\') line += "\\\\";
      else if (c == '\t') line += "\\t";
      else if (c == '\n') line += "\\n";
      else line += c;
    }
  }
  line += '\n';
  return line;
}

bool ReadPlan(LineReader& reader, std::vector<Step>& steps, std::string& error, const char* prePlanOp,
              PrePlanHandler prePlan) {
  std::string line;
  for (;;) {
    while (reader.NextLine(line)) {
      std::vector<std::string> fields;
      if (!ParseLine(line, fields, error)) return false;
      if (fields[0] == "end") return true;
      if (prePlan && steps.empty() && fields[0] == prePlanOp) {
        if (!prePlan(fields, error)) return false;
        continue;
      }
      Step step;
      step.index = steps.size();
      step.op = fields[0];
      step.fields.assign(std::make_move_iterator(fields.begin() + 1), std::make_move_iterator(fields.end()));
      const OpShape* shape = FindOp(step.op);
      if (!shape) {
        error = "unknown plan op \"" + step.op + "\" at step " + std::to_string(step.index);
        return false;
      }
      if (step.fields.size() < shape->fields) {
        error = "plan op " + step.op + " at step " + std::to_string(step.index) + " needs " +
                std::to_string(shape->fields) + " fields, got " + std::to_string(step.fields.size());
        return false;
      }
      steps.push_back(std::move(step));
    }
    int got = reader.Fill();
    if (got == 0) {
      error = "control socket closed before the plan's end line";
      return false;
    }
    if (got < 0) {
      error = std::string("reading the plan: ") + strerror(-got);
      return false;
    }
  }
}

}  // namespace hull
