#pragma once
// Time and text for the whole-system cluster suites: the seconds since a
// start, the "[   info   ]" lines a suite prints next to GoogleTest's own
// (measured figures, timelines), numbers and logs quoted in failure messages.
// Header only: nothing here touches a process, a server or the network.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace recd::test {

using steady = std::chrono::steady_clock;

inline double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

// One line to stdout, flushed at once (it shows up in ctest's output when a suite fails).
inline void info(const std::string& text) {
  std::printf("[   info   ] %s\n", text.c_str());
  std::fflush(stdout);
}

// `x` with `decimals` digits after the point.
inline std::string fmt(double x, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

// The whole file ("" if it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last `n` characters of `text`, "..." in front if it was cut.
inline std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

// "1,2,3".
inline std::string join(const std::vector<std::int64_t>& v) {
  std::string out;
  for (auto x : v)
    out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

} // namespace recd::test
