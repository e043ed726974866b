#include "nodes/routes.hpp"

namespace recd::routes {

bool fits(std::string_view pattern, std::string_view path) {
  // Segment by segment; both start with '/'.
  while (true) {
    if (pattern.empty() || path.empty())
      return pattern.empty() && path.empty();
    if (pattern.front() != '/' || path.front() != '/')
      return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const auto pattern_end = pattern.find('/');
    const auto path_end = path.find('/');
    const auto want = pattern.substr(0, pattern_end);
    const auto got = path.substr(0, path_end);
    const bool is_param = want.size() >= 2 && want.front() == '{' && want.back() == '}';
    if (!is_param && want != got)
      return false;
    // Both at their last segment, or both go on.
    if ((pattern_end == std::string_view::npos) != (path_end == std::string_view::npos))
      return false;
    if (pattern_end == std::string_view::npos)
      return true;
    pattern.remove_prefix(pattern_end);
    path.remove_prefix(path_end);
  }
}

match find(port on, std::string_view method, std::string_view path) {
  match m;
  for (const auto& r : table) {
    if (r.on != on || !fits(r.path, path))
      continue;
    if (r.method == method) {
      m.result = outcome::found;
      m.row = &r;
      m.allow.clear();
      return m;
    }
    m.result = outcome::wrong_method;
    if (m.allow.find(r.method) == std::string::npos)
      m.allow += (m.allow.empty() ? "" : ", ") + std::string{r.method};
  }
  return m;
}

} // namespace recd::routes
