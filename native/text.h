// Small text helpers shared by the helper and the addon (native/seccomp.cc is built into both).
#pragma once
#include <string>
#include <vector>

namespace hull {
// "a,b,,c" → {"a", "b", "c"}: empty items are dropped.
inline std::vector<std::string> SplitList(const std::string& list, char separator = ',') {
  std::vector<std::string> items;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(separator, start);
    if (end == std::string::npos) end = list.size();
    if (end > start) items.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return items;
}
}  // namespace hull
