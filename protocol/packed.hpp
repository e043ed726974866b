#pragma once
// packed(v): a vector of numbers serialized as one block of raw bytes (its
// size, then size x sizeof(T) bytes in the host's byte order) instead of one
// virtual call per element. The offline jobs ship tens of millions of them
// (ALS factors each half-step, an embedding run's triplets, a similarity
// graph): element by element, encoding and decoding took about a fifth of an
// ALS run's CPU. Both ends of a cluster run the same build on little-endian
// hosts (checked below), so the bytes mean the same on both.
//
// Decoding is bounded before memory is taken: a size beyond the bytes left in
// the source (binary_deserializer) or beyond limits::max_bulk_bytes (any
// other deserializer: the bulk bound, repeated here because limits.hpp
// includes messages.hpp) is an error, never an allocation.

#include <bit>
#include <cstddef>
#include <type_traits>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/deserializer.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <caf/serializer.hpp>

namespace recd {

static_assert(std::endian::native == std::endian::little,
              "packed vectors are sent in the host's byte order: little-endian hosts only");

template <class T>
struct packed_vector {
  static_assert(std::is_arithmetic_v<T>, "packed vectors hold numbers");
  std::vector<T>& xs;
};

template <class T>
packed_vector<T> packed(std::vector<T>& xs) {
  return {xs};
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, packed_vector<T>& p) {
  if constexpr (std::is_same_v<Inspector, caf::serializer>) {
    auto n = p.xs.size();
    if (auto err = f.begin_sequence(n))
      return err;
    if (n > 0)
      if (auto err = f.apply_raw(n * sizeof(T), p.xs.data()))
        return err;
    return f.end_sequence();
  } else if constexpr (std::is_same_v<Inspector, caf::deserializer>) {
    std::size_t n = 0;
    if (auto err = f.begin_sequence(n))
      return err;
    std::size_t left = std::size_t{4} << 30; // limits::max_bulk_bytes
    if (auto* binary = dynamic_cast<caf::binary_deserializer*>(&f))
      left = binary->remaining();
    if (n > left / sizeof(T))
      return caf::make_error(caf::sec::end_of_stream);
    p.xs.resize(n);
    if (n > 0)
      if (auto err = f.apply_raw(n * sizeof(T), p.xs.data()))
        return err;
    return f.end_sequence();
  } else {
    return f(p.xs); // other inspectors (to_string): element by element
  }
}

} // namespace recd
