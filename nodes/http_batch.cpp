// POST /api/behaviors body decoding. See http_batch.hpp for the contract.

#include "nodes/http_batch.hpp"

#include "nodes/http_api.hpp"

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cctype>
#include <string_view>

namespace recd::http {

namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 5> event_fields = {"user_id", "item_id", "behavior_type",
                                                          "timestamp", "event_id"};

bool is_msgpack_type(const request& r) {
  std::string type = r.content_type.substr(0, r.content_type.find(';'));
  std::string lower;
  for (char c : type)
    if (c != ' ' && c != '\t')
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/x-msgpack" || lower == "application/msgpack" ||
         lower == "application/vnd.msgpack";
}

// A msgpack value as the JSON value with the same meaning; anything that no
// event field accepts (arrays, maps, binary, extensions) becomes an empty
// JSON array, which every field refuses with its own message.
json to_json(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return nullptr;
    case msgpack::type::BOOLEAN: return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER: return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER: return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return o.via.f64;
    case msgpack::type::STR: return std::string{o.via.str.ptr, o.via.str.size};
    default: return json::array();
  }
}

// One event map: its known fields as a JSON object (a key given twice: the
// last wins, as in a JSON object); non-string and unknown keys are ignored.
std::optional<json> event_object(const msgpack::object& o) {
  if (o.type != msgpack::type::MAP)
    return std::nullopt;
  json out = json::object();
  for (std::uint32_t k = 0; k < o.via.map.size; ++k) {
    const auto& kv = o.via.map.ptr[k];
    if (kv.key.type != msgpack::type::STR)
      continue;
    std::string_view key{kv.key.via.str.ptr, kv.key.via.str.size};
    for (auto field : event_fields)
      if (key == field)
        out[std::string{field}] = to_json(kv.val);
  }
  return out;
}

// The element count of a msgpack array header at the start of `body`, or
// nullopt when the body does not start with one.
std::optional<std::uint64_t> msgpack_array_size(std::string_view body) {
  if (body.empty())
    return std::nullopt;
  auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(body[k]); };
  const auto first = byte(0);
  if (first >= 0x90 && first <= 0x9f)
    return first & 0x0f;
  if (first == 0xdc && body.size() >= 3)
    return (std::uint64_t{byte(1)} << 8) | byte(2);
  if (first == 0xdd && body.size() >= 5)
    return (std::uint64_t{byte(1)} << 24) | (std::uint64_t{byte(2)} << 16) |
           (std::uint64_t{byte(3)} << 8) | byte(4);
  return std::nullopt;
}

batch_error too_many(std::size_t max_events) {
  return {413, "events: at most " + std::to_string(max_events) + " events per request", {}};
}

// Validates every event with POST /api/behavior's rules; the first bad one is named.
template <class Events, class Object>
std::variant<behavior_batch, batch_error> validate(const Events& events, std::size_t count,
                                                   Object object_of, unix_seconds now) {
  behavior_batch out;
  out.events.reserve(count);
  out.event_ids.reserve(count);
  for (std::size_t k = 0; k < count; ++k) {
    auto prefix = [&] { return "events[" + std::to_string(k) + "]: "; };
    std::optional<json> holder;
    const json* event = object_of(events, k, holder);
    if (event == nullptr)
      return batch_error{422, prefix() + "must be an object", k};
    auto parsed = parse_behavior_object(*event, now);
    if (auto* e = std::get_if<api_error>(&parsed))
      return batch_error{e->status, prefix() + e->message, k};
    auto& cmd = std::get<behavior_command>(parsed);
    if (!cmd.has_timestamp)
      cmd.event.ts = now;
    out.events.push_back(cmd.event);
    out.event_ids.push_back(std::move(cmd.event_id));
  }
  return out;
}

std::variant<behavior_batch, batch_error> parse_json(const request& r, unix_seconds now,
                                                     std::size_t max_events) {
  auto body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    return batch_error{400, "malformed JSON", {}};
  if (!body.is_array())
    return batch_error{400, "the body must be a JSON array of events", {}};
  if (body.size() > max_events)
    return too_many(max_events);
  if (body.empty())
    return batch_error{422, "events: at least one event", {}};
  return validate(
    body, body.size(),
    [](const json& events, std::size_t k, std::optional<json>&) -> const json* {
      const auto& e = events[k];
      return e.is_object() ? &e : nullptr;
    },
    now);
}

std::variant<behavior_batch, batch_error> parse_msgpack(const request& r, unix_seconds now,
                                                        std::size_t max_events) {
  const std::string_view body = r.body;
  auto declared = msgpack_array_size(body);
  if (!declared)
    return batch_error{400, "the body must be a msgpack array of events", {}};
  if (*declared > max_events)
    return too_many(max_events);
  if (*declared == 0)
    return batch_error{422, "events: at least one event", {}};
  // Bounds before anything is allocated: the array as declared, maps of at
  // most 64 keys, strings and binaries of at most 4 KiB, no extensions, and
  // no nesting below an event's fields (depth 2: the array and its maps).
  const msgpack::unpack_limit limit(static_cast<std::size_t>(max_events), 64, 4096, 4096, 0, 2);
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    return batch_error{400, std::string{"malformed msgpack: "} + e.what(), {}};
  }
  if (offset != body.size())
    return batch_error{400, "malformed msgpack: bytes after the array of events", {}};
  const auto& root = handle.get();
  if (root.type != msgpack::type::ARRAY)
    return batch_error{400, "the body must be a msgpack array of events", {}};
  return validate(
    root.via.array, root.via.array.size,
    [](const msgpack::object_array& events, std::size_t k,
       std::optional<json>& holder) -> const json* {
      holder = event_object(events.ptr[k]);
      return holder ? &*holder : nullptr;
    },
    now);
}

// Any msgpack value as JSON (msgpack_array_to_json); false for what JSON
// cannot say (binary, extensions, non-string keys, non-finite floats).
bool any_to_json(const msgpack::object& o, json& out) {
  switch (o.type) {
    case msgpack::type::ARRAY:
      out = json::array();
      for (std::uint32_t k = 0; k < o.via.array.size; ++k) {
        json element;
        if (!any_to_json(o.via.array.ptr[k], element))
          return false;
        out.push_back(std::move(element));
      }
      return true;
    case msgpack::type::MAP:
      out = json::object();
      for (std::uint32_t k = 0; k < o.via.map.size; ++k) {
        const auto& kv = o.via.map.ptr[k];
        if (kv.key.type != msgpack::type::STR)
          return false;
        json value;
        if (!any_to_json(kv.val, value))
          return false;
        out[std::string{kv.key.via.str.ptr, kv.key.via.str.size}] = std::move(value);
      }
      return true;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      if (!std::isfinite(o.via.f64))
        return false;
      out = o.via.f64;
      return true;
    case msgpack::type::BIN:
    case msgpack::type::EXT: return false;
    default: out = to_json(o); return true;
  }
}

} // namespace

bool is_msgpack(const request& r) { return is_msgpack_type(r); }

std::variant<nlohmann::json, batch_error> msgpack_array_to_json(std::string_view body,
                                                                std::size_t max_elements,
                                                                std::size_t max_depth) {
  auto declared = msgpack_array_size(body);
  if (!declared)
    return batch_error{400, "the body must be a msgpack array", {}};
  if (*declared > max_elements)
    return batch_error{413, "at most " + std::to_string(max_elements) + " per request", {}};
  if (*declared == 0)
    return batch_error{422, "at least one element", {}};
  const msgpack::unpack_limit limit(max_elements, 256, 65536, 0, 0, max_depth);
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    return batch_error{400, std::string{"malformed msgpack: "} + e.what(), {}};
  }
  if (offset != body.size())
    return batch_error{400, "malformed msgpack: bytes after the array", {}};
  json out;
  if (handle.get().type != msgpack::type::ARRAY || !any_to_json(handle.get(), out))
    return batch_error{400,
                       "malformed msgpack: binary, extension, non-string key or non-finite "
                       "number",
                       {}};
  return out;
}

std::string batch_error_json(const batch_error& e) {
  json j = {{"error", e.message}, {"status", e.status}};
  if (e.index)
    j["index"] = *e.index;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::variant<behavior_batch, batch_error> parse_behavior_batch(const request& r, unix_seconds now,
                                                               std::size_t max_events) {
  return is_msgpack_type(r) ? parse_msgpack(r, now, max_events) : parse_json(r, now, max_events);
}

} // namespace recd::http
