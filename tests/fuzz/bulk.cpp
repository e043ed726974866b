// Fuzz target: the receiving side of a bulk transfer (protocol/bulk.hpp), as
// a shard, a worker or the job driver runs it: hostile chunk sequences into a
// bulk_inbox (any ids, indices, counts, sizes, repeats, gaps, order), take()
// with any handle, then decode_bulk of the joined bytes into each type recd
// sends in bulk. Also checks that a value cut into chunks of any size and
// delivered in reverse order joins back to the same bytes.
//
// Input: a little program of operations read with FuzzedDataProvider.

#include "protocol/bulk.hpp"
#include "protocol/messages.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok)
    std::abort();
}

// Decodes as one of the values that travel in bulk (similarity_worker,
// embedding_worker, job_driver).
void decode_as(std::uint8_t type, const std::vector<char>& bytes) {
  switch (type % 4) {
  case 0: {
    recd::similarity_task task;
    (void)recd::decode_bulk(bytes, task);
    break;
  }
  case 1: {
    recd::embedding_task task;
    (void)recd::decode_bulk(bytes, task);
    break;
  }
  case 2: {
    std::vector<float> factors;
    auto packed_factors = recd::packed(factors); // as the ALS half-step sends them
    (void)recd::decode_bulk(bytes, packed_factors);
    break;
  }
  default: {
    recd::factor_block block;
    (void)recd::decode_bulk(bytes, block);
    break;
  }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in{data, size};
  recd::bulk_inbox inbox;
  for (int op = 0; op < 256 && in.remaining_bytes() > 0; ++op) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: { // a chunk, with small ids so transfers collide
      recd::bulk_chunk chunk;
      chunk.id = in.ConsumeIntegralInRange<std::uint64_t>(0, 3);
      chunk.index = in.ConsumeBool() ? in.ConsumeIntegral<std::uint32_t>()
                                     : in.ConsumeIntegralInRange<std::uint32_t>(0, 8);
      chunk.count = in.ConsumeBool() ? in.ConsumeIntegral<std::uint32_t>()
                                     : in.ConsumeIntegralInRange<std::uint32_t>(0, 8);
      const auto n = in.ConsumeIntegralInRange<std::size_t>(0, 64);
      const auto bytes = in.ConsumeBytes<char>(n);
      chunk.bytes = bytes;
      (void)inbox.add(std::move(chunk));
      break;
    }
    case 1: { // a request naming a transfer, with any handle
      recd::bulk_handle handle;
      handle.id = in.ConsumeIntegralInRange<std::uint64_t>(0, 3);
      handle.count = in.ConsumeBool() ? in.ConsumeIntegral<std::uint32_t>()
                                      : in.ConsumeIntegralInRange<std::uint32_t>(0, 8);
      handle.bytes = in.ConsumeBool() ? in.ConsumeIntegral<std::uint64_t>()
                                      : in.ConsumeIntegralInRange<std::uint64_t>(0, 512);
      const auto type = in.ConsumeIntegral<std::uint8_t>();
      auto joined = inbox.take(handle);
      if (joined) {
        check(joined->size() == handle.bytes);
        decode_as(type, *joined);
      }
      break;
    }
    case 2: { // bytes straight into the decoders
      const auto type = in.ConsumeIntegral<std::uint8_t>();
      const auto n = in.ConsumeIntegralInRange<std::size_t>(0, 512);
      decode_as(type, in.ConsumeBytes<char>(n));
      break;
    }
    default: { // round trip: cut, deliver in reverse, join
      const auto chunk_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 64);
      const auto n = in.ConsumeIntegralInRange<std::size_t>(0, 512);
      const auto value = in.ConsumeBytes<char>(n);
      const std::uint64_t id = 100; // apart from the hostile ones
      auto chunks = recd::cut_into_chunks(id, value, chunk_bytes);
      check(!chunks.empty());
      const recd::bulk_handle handle{id, static_cast<std::uint32_t>(chunks.size()), value.size()};
      for (auto it = chunks.rbegin(); it != chunks.rend(); ++it)
        check(!inbox.add(std::move(*it)));
      auto joined = inbox.take(handle);
      check(joined && *joined == value);
      break;
    }
    }
  }
  return 0;
}
