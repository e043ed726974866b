#pragma once
// docs/openapi.yaml as compact JSON, compiled into the binary at build time
// (cmake/embed_openapi.py) and served at GET /openapi.json on the public port.
#include <string_view>

namespace recd {

std::string_view openapi_json();

} // namespace recd
