#pragma once
// Bulk values (an ALS run's interactions and factors; a similarity run's
// input goes between shards as pair_batch pieces instead) do not cross nodes
// as one message: the sender encodes the value once with CAF's
// binary serializer, cuts the bytes into chunks of at most bulk_chunk_bytes and
// sends them one request at a time (each acknowledged, so a slow receiver
// slows the sender down); the request that uses the value then names it by its
// bulk_handle, and the receiver joins, checks and decodes the chunks.
//
//   (bulk_atom, bulk_chunk)  -> bool     one piece, kept in the receiver's bulk_inbox
//   (..., bulk_handle, ...)  -> ...      a request using the value sent before

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "protocol/errors.hpp"
#include "protocol/limits.hpp"

namespace recd {

constexpr std::size_t bulk_chunk_bytes = std::size_t{1} << 20; // 1 MiB

struct bulk_chunk {
  std::uint64_t id = 0;     // the transfer, unique per sender
  std::uint32_t index = 0;  // 0 .. count-1
  std::uint32_t count = 0;
  std::vector<char> bytes;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bulk_chunk& x) {
  return f(caf::meta::type_name("bulk_chunk"), x.id, x.index, x.count, x.bytes);
}

struct bulk_handle {
  std::uint64_t id = 0;
  std::uint32_t count = 0;  // chunks
  std::uint64_t bytes = 0;  // total size, checked on arrival
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bulk_handle& x) {
  return f(caf::meta::type_name("bulk_handle"), x.id, x.count, x.bytes);
}

// The encoded value, cut into chunks (at least one, even for an empty value).
struct bulk_payload {
  bulk_handle handle;
  std::vector<bulk_chunk> chunks;
};

std::vector<bulk_chunk> cut_into_chunks(std::uint64_t id, const std::vector<char>& bytes,
                                        std::size_t chunk_bytes = bulk_chunk_bytes);

template <class T>
caf::expected<bulk_payload> encode_bulk(std::uint64_t id, T& value,
                                        std::size_t chunk_bytes = bulk_chunk_bytes) {
  std::vector<char> bytes;
  caf::binary_serializer sink{static_cast<caf::execution_unit*>(nullptr), bytes};
  if (auto err = sink(value))
    return make_error(ec::invalid_argument, "cannot encode a bulk value: " + caf::to_string(err));
  bulk_payload out;
  out.handle = {id, 0, bytes.size()};
  out.chunks = cut_into_chunks(id, bytes, chunk_bytes);
  out.handle.count = static_cast<std::uint32_t>(out.chunks.size());
  return out;
}

template <class T>
caf::error decode_bulk(const std::vector<char>& bytes, T& value) {
  caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), bytes};
  if (auto err = source(value))
    return make_error(ec::invalid_argument, "cannot decode a bulk value: " + caf::to_string(err));
  if (source.remaining() != 0)
    return make_error(ec::invalid_argument, "a bulk value has trailing bytes");
  return {};
}

// The receiving side: chunks by (sending node, transfer) until the request
// that uses them. Every bound is checked before memory is taken: a chunk of at
// most bulk_chunk_bytes, a value of at most limits::max_bulk_bytes, at most
// limits::max_bulk_in_flight bytes held per sending node, and a transfer that
// got no chunk for abandoned_after is dropped. `from` names the sending node
// (caf::to_string of its node id; "" for local use): one sender can neither
// complete nor take another's transfer.
class bulk_inbox {
public:
  // Keeps a chunk; an error (and nothing kept) for one that breaks a bound or
  // does not fit its transfer. A repeated chunk replaces the first copy.
  caf::error add(bulk_chunk&& chunk, const std::string& from = {});
  // The joined bytes of a complete transfer (which is forgotten), or an error
  // if chunks are missing or the size differs.
  caf::expected<std::vector<char>> take(const bulk_handle& handle, const std::string& from = {});
  std::size_t pending() const { return transfers_.size(); }
  // Bytes held for `from` now.
  std::uint64_t held_bytes(const std::string& from) const;

  static constexpr auto abandoned_after = std::chrono::seconds{60};

private:
  struct transfer {
    std::chrono::steady_clock::time_point touched;
    std::uint32_t count = 0;
    std::uint64_t bytes = 0;
    std::map<std::uint32_t, std::vector<char>> chunks; // by index
  };
  void expire(std::chrono::steady_clock::time_point now);
  void forget(std::map<std::pair<std::string, std::uint64_t>, transfer>::iterator it);
  std::map<std::pair<std::string, std::uint64_t>, transfer> transfers_;
  std::map<std::string, std::uint64_t> held_;          // bytes per sending node
};

} // namespace recd
