#pragma once
// The dashboard's files (ui/*.html, *.css, *.js), compiled into the binary by
// cmake/EmbedUi.cmake so that a pod serves /ui without any file on disk.
#include <string_view>

namespace recd {

struct ui_file {
  std::string_view name;         // "index.html"
  std::string_view content_type; // "text/html; charset=utf-8", ...
  std::string_view content;
};

// The file named `name` (no directories), or null.
const ui_file* find_ui_file(std::string_view name);

} // namespace recd
