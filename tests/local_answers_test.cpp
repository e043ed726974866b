// version_board and local_answers: a cached answer served without a message
// is valid exactly as long as one checked by a message would be (the user's
// version and the catalog epoch on the shard unchanged), and under the
// node's routing, rules and request shape it was stored for. The shard's
// side: every change of a user's version, of the catalog epoch or of the
// partitions held shows on its board. Served end to end (HTTP thread,
// freshness after a behavior or a catalog change): catalog_test,
// behavior_batch_test, rules_test and operate_test.
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "actors/local_answers.hpp"
#include "actors/shard_state.hpp"
#include "actors/version_board.hpp"

namespace recd {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const std::string> text(const std::string& s) {
  return std::make_shared<const std::string>(s);
}

TEST(VersionBoard, AStampHoldsUntilItsUserOrEveryoneChanges) {
  version_board board;
  const user_id u = 42;
  // A user in another slot (users share slots by hash; 43 and 42 do not).
  const user_id other = 43;
  auto s = board.read(u);
  EXPECT_TRUE(board.unchanged(u, s));
  board.user_changed(other);
  EXPECT_TRUE(board.unchanged(u, s)) << "another user's change invalidated this one";
  board.user_changed(u);
  EXPECT_FALSE(board.unchanged(u, s));
  s = board.read(u);
  board.all_changed();
  EXPECT_FALSE(board.unchanged(u, s));
  s = board.read(u);
  board.retire();
  EXPECT_FALSE(board.unchanged(u, s)) << "a retired board vouched for an answer";
}

TEST(VersionBoard, ABoardIsFoundByItsShardOnlyWhileEnlisted) {
  auto board = std::make_shared<version_board>();
  int block = 0; // stands for a control block's address
  const auto* key = reinterpret_cast<const caf::actor_control_block*>(&block);
  EXPECT_EQ(version_board::of(key), nullptr);
  version_board::enlist(key, board);
  EXPECT_EQ(version_board::of(key), board);
  version_board::delist(key);
  EXPECT_EQ(version_board::of(key), nullptr);
  EXPECT_EQ(version_board::of(nullptr), nullptr);
}

TEST(VersionBoard, TheShardStateReportsEveryChangeOfAVersionOrTheCatalogEpoch) {
  shard_state st{recommend_settings{}};
  auto board = std::make_shared<version_board>();
  st.report_changes_to(board);
  const user_id u = 7;
  auto s = board->read(u);
  // A behavior of the user.
  st.apply_user(behavior_event{u, 3, behavior_kind::view, 1000}, {});
  EXPECT_FALSE(board->unchanged(u, s));
  // With a row id (the path of committed events) too.
  s = board->read(u);
  st.apply_user(behavior_event{u, 4, behavior_kind::buy, 1001}, {}, 17);
  EXPECT_FALSE(board->unchanged(u, s));
  // The catalog epoch: a push ahead, then the poll catching up.
  s = board->read(u);
  const auto epoch = st.catalog_epoch();
  st.synced_to(0); // nothing new: the catalog poll of an idle shop
  EXPECT_EQ(st.catalog_epoch(), epoch);
  EXPECT_TRUE(board->unchanged(u, s)) << "a poll that changed nothing invalidated every answer";
  item_details d;
  d.item = 3;
  st.apply_catalog(d, epoch + 1, true);
  EXPECT_NE(st.catalog_epoch(), epoch);
  EXPECT_FALSE(board->unchanged(u, s));
  s = board->read(u);
  st.synced_to(epoch + 5);
  EXPECT_FALSE(board->unchanged(u, s));
  // The partitions held.
  s = board->read(u);
  st.drop({partition_of(u, 16)}, 16); // the user's partition
  EXPECT_FALSE(board->unchanged(u, s));
  s = board->read(u);
  shard_snapshot empty;
  st.install(std::move(empty));
  EXPECT_FALSE(board->unchanged(u, s));
  // An erased user.
  s = board->read(u);
  st.erase_user(u + 1, 0);
  EXPECT_FALSE(board->unchanged(u, s));
}

class LocalAnswers : public ::testing::Test {
protected:
  std::shared_ptr<version_board> board = std::make_shared<version_board>();
  local_answers answers{1 << 20, std::chrono::seconds{60}};
  local_answers::guard stamp(user_id u) { return {board, board->read(u), answers.routing()}; }
};

TEST_F(LocalAnswers, AnEntryIsServedForItsOwnRequestWhileNothingChanged) {
  answers.put(1, text("{\"a\":1"), 20, 5, stamp(1));
  ASSERT_NE(answers.find(1, 20, 5), nullptr);
  EXPECT_EQ(*answers.find(1, 20, 5), "{\"a\":1");
  EXPECT_EQ(answers.find(2, 20, 5), nullptr);
  // Another depth or other rules: not this entry's request, and it stays.
  EXPECT_EQ(answers.find(1, 10, 5), nullptr);
  EXPECT_EQ(answers.find(1, 20, 6), nullptr);
  EXPECT_NE(answers.find(1, 20, 5), nullptr);
}

TEST_F(LocalAnswers, AChangeOfTheUserTheShardOrTheRoutingEndsAnEntry) {
  answers.put(1, text("x"), 20, 0, stamp(1));
  board->user_changed(1);
  EXPECT_EQ(answers.find(1, 20, 0), nullptr);
  EXPECT_EQ(answers.size(), 0u) << "an invalid entry was kept";

  answers.put(1, text("x"), 20, 0, stamp(1));
  board->all_changed();
  EXPECT_EQ(answers.find(1, 20, 0), nullptr);

  answers.put(1, text("x"), 20, 0, stamp(1));
  answers.routing_changed();
  EXPECT_EQ(answers.find(1, 20, 0), nullptr);

  // A stamp read before a change does not vouch for an answer stored after it.
  auto early = stamp(1);
  board->user_changed(1);
  answers.put(1, text("x"), 20, 0, early);
  EXPECT_EQ(answers.find(1, 20, 0), nullptr);

  answers.put(1, text("x"), 20, 0, stamp(1));
  board->retire();
  EXPECT_EQ(answers.find(1, 20, 0), nullptr);
}

TEST_F(LocalAnswers, AFlushForgetsTheUsersEntryOrAll) {
  answers.put(1, text("x"), 20, 0, stamp(1));
  answers.put(2, text("y"), 20, 0, stamp(2));
  answers.erase(1);
  EXPECT_EQ(answers.find(1, 20, 0), nullptr);
  EXPECT_NE(answers.find(2, 20, 0), nullptr);
  answers.clear();
  EXPECT_EQ(answers.find(2, 20, 0), nullptr);
  EXPECT_EQ(answers.size(), 0u);
}

TEST_F(LocalAnswers, AnEntryExpiresAfterTheTtl) {
  local_answers short_lived{1 << 20, std::chrono::seconds{0}};
  short_lived.put(1, text("x"), 20, 0, {board, board->read(1), short_lived.routing()});
  EXPECT_EQ(short_lived.find(1, 20, 0), nullptr);
}

TEST_F(LocalAnswers, MemoryIsBoundedLeastRecentlyUsedFirst) {
  // 16 stripes of 64 bytes; users 1, 17 and 33 share a stripe.
  local_answers small{16 * 64, std::chrono::seconds{60}};
  auto g = [&](user_id u) { return local_answers::guard{board, board->read(u), small.routing()}; };
  const std::string body(30, 'x');
  small.put(1, text(body), 20, 0, g(1));
  small.put(17, text(body), 20, 0, g(17));
  ASSERT_NE(small.find(1, 20, 0), nullptr); // 1 is now the most recently used
  small.put(33, text(body), 20, 0, g(33));  // 90 bytes > 64: the least recent (17) goes
  EXPECT_NE(small.find(1, 20, 0), nullptr);
  EXPECT_EQ(small.find(17, 20, 0), nullptr);
  EXPECT_NE(small.find(33, 20, 0), nullptr);
  small.put(2, text(std::string(65, 'y')), 20, 0, g(2)); // larger than a stripe: not kept
  EXPECT_EQ(small.find(2, 20, 0), nullptr);
}

} // namespace
} // namespace recd
