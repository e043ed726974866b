#pragma once
// Train/test splits of a behavior log for offline evaluation. Pure C++.
//
// The unit of a split is a distinct (user, item) pair: all events of a pair go
// to the same side, so a test item never appears in the user's train events.
// Every interaction counts as positive (the Microsoft Recommenders protocol).

#include <cstdint>
#include <map>
#include <vector>

#include "engine/types.hpp"

namespace recd::engine {

struct data_split {
  std::vector<behavior_event> train;               // in the input's order
  std::map<user_id, std::vector<item_id>> test;    // user -> sorted distinct test items
};

// Per-user stratified random split: each user's distinct items are shuffled
// (std::mt19937_64 seeded with `seed`, users in ascending id order) and the
// first round(ratio * n) of them go to train, at least one. A user with a
// single item keeps it in train. 0 < ratio < 1. Same input and seed, same split.
data_split split_random(const std::vector<behavior_event>& events, double ratio,
                        std::uint64_t seed);

// Temporal per-user split: each user's distinct items ordered by the time of
// the pair's latest event (ties: larger item id newer); the oldest
// round(ratio * n) of them, at least one, go to train, the newest to test.
// 0 < ratio < 1. Deterministic.
data_split split_temporal(const std::vector<behavior_event>& events, double ratio);

// Temporal leave-last-n split: each user's `n` most recent distinct items (by
// the time of the pair's latest event, ties by larger item id) go to test,
// provided the user keeps at least one item in train. n >= 1.
data_split split_leave_last(const std::vector<behavior_event>& events, std::size_t n);

} // namespace recd::engine
