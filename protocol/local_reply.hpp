#pragma once
// local_reply<T>: where an actor delivers the answer to a caller that is not an
// actor, in the same process (the HTTP gateway). Sending the API actor a
// request with a local_reply instead of making a CAF request spares a
// short-lived actor and a CAF request timer per HTTP request; the HTTP server's
// own deadline covers the answer that never comes.
//
// Local only: whitelisted as an unsafe message type, so it must never be sent
// to another node (it holds a function). Call it exactly once.

#include <functional>
#include <memory>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>

namespace recd {

template <class T>
struct local_reply {
  std::shared_ptr<const std::function<void(caf::expected<T>)>> fn;

  void operator()(caf::expected<T> x) const { (*fn)(std::move(x)); }
};

template <class T, class F>
local_reply<T> make_local_reply(F f) {
  return {std::make_shared<const std::function<void(caf::expected<T>)>>(std::move(f))};
}

} // namespace recd

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::local_reply<std::string>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(recd::local_reply<std::int64_t>)
