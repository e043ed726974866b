// deadlines: the first to settle wins; expiry runs only for unsettled tokens,
// in deadline order, and ticks stop when nothing is pending.
#include <thread>

#include <gtest/gtest.h>

#include "actors/deadlines.hpp"

namespace recd {
namespace {

using namespace std::chrono_literals;

TEST(Deadlines, AnAnswerBeforeTheDeadlineSuppressesTheExpiry) {
  deadlines d;
  deadlines::settle answered, lost;
  std::vector<int> expired;
  EXPECT_TRUE(d.arm(1ms, answered, [&] { expired.push_back(1); })); // first arm: tick needed
  EXPECT_FALSE(d.arm(2ms, lost, [&] { expired.push_back(2); }));    // a tick is pending already
  EXPECT_TRUE(answered.first());                                    // the answer came
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(d.expire(10ms), deadlines::clock::duration::zero());
  EXPECT_EQ(expired, std::vector<int>{2});
  EXPECT_FALSE(lost.first()); // the expiry settled it: a late answer is ignored
  EXPECT_EQ(d.pending(), 0u);
}

TEST(Deadlines, ExpireFiresOnlyWhatIsDueAndAsksForTheNextTick) {
  deadlines d;
  deadlines::settle soon, later;
  std::vector<int> expired;
  d.arm(1ms, soon, [&] { expired.push_back(1); });
  d.arm(1h, later, [&] { expired.push_back(2); });
  std::this_thread::sleep_for(3ms);
  auto next = d.expire(10ms);
  EXPECT_EQ(expired, std::vector<int>{1});
  EXPECT_GT(next, 59min); // the next due entry, not the granularity
  EXPECT_EQ(d.pending(), 1u);
  // The pending tick comes in an hour: a deadline in 3 ms needs its own.
  deadlines::settle third, fourth;
  EXPECT_TRUE(d.arm(3ms, third, [] {}));
  // One due later than that tick needs none.
  EXPECT_FALSE(d.arm(1s, fourth, [] {}));
  EXPECT_EQ(d.expire(10ms), 10ms); // due in 3 ms: not sooner than the granularity
}

TEST(Deadlines, AShortDeadlineArmedAfterALongOneFiresAtItsOwnTick) {
  deadlines d;
  deadlines::settle write, step;
  std::vector<int> expired;
  EXPECT_TRUE(d.arm(1h, write, [&] { expired.push_back(1); })); // e.g. a behavior's write
  EXPECT_TRUE(d.arm(1ms, step, [&] { expired.push_back(2); }));  // a shard step after it
  std::this_thread::sleep_for(3ms);
  // The step's tick: it fires; the hour's tick is still pending, none more is needed.
  EXPECT_EQ(d.expire(10ms), deadlines::clock::duration::zero());
  EXPECT_EQ(expired, std::vector<int>{2});
  EXPECT_EQ(d.pending(), 1u);
  // The hour's tick arrives (here: early); it asks for the next one again.
  EXPECT_GT(d.expire(10ms), 59min);
  EXPECT_EQ(expired, std::vector<int>{2});
}

} // namespace
} // namespace recd
