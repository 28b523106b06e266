// The plan wire format (docs/internals/plan.md): TAB-separated lines, `\\` `\t` `\n` escapes, `end`.
// Used both for the plan TypeScript writes and for the messages the helper sends back.
#pragma once
#include <string>
#include <vector>

namespace hull {

// One plan line: the op name and its fields, plus its position in the plan (0-based),
// which is what `trace` and `error` messages report.
struct Step {
  size_t index = 0;
  std::string op;
  std::vector<std::string> fields;
};

// Buffered line reader over a blocking or poll()ed fd (the control socket).
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // One read(2) into the buffer: >0 bytes read, 0 at EOF, -errno on error.
  int Fill();
  // Take the next complete line (without '\n') out of the buffer.
  bool NextLine(std::string& line);
  int fd() const { return fd_; }

 private:
  int fd_;
  std::string buffer_;
};

// A line that may come before the plan (`cgroup-self`): handled as it arrives, since TypeScript
// waits for its answer before it sends the plan. Returns false + `error` to stop.
using PrePlanHandler = bool (*)(const std::vector<std::string>& fields, std::string& error);
// Read lines until `end`. On failure `error` says why (unknown op, bad escape, EOF before `end`).
// Lines whose op is `prePlanOp` before the first step go to `prePlan` instead.
bool ReadPlan(LineReader& reader, std::vector<Step>& steps, std::string& error, const char* prePlanOp = nullptr,
              PrePlanHandler prePlan = nullptr);
// Split and unescape one line. False + `error` for a bad escape.
bool ParseLine(const std::string& line, std::vector<std::string>& fields, std::string& error);
// Escape and join fields into one line, ending with '\n'.
std::string FormatLine(const std::vector<std::string>& fields);

}  // namespace hull
