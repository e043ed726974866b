// Every message type that may cross a node survives CAF's binary
// serialization unchanged (a missing inspect or registration would only show
// up across the network, as sec::unknown_type).
#include <gtest/gtest.h>

#include <limits>

#include <cmath>

#include <map>
#include <set>
#include <string>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "protocol/errors.hpp"
#include "protocol/limits.hpp"
#include "protocol/type_ids.hpp"

namespace recd {
namespace {

struct protocol_test : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  void SetUp() override {
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  // Serializes `msg` as a whole message (type names included) and reads it back.
  caf::message round_trip(const caf::message& msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    auto copy = msg;
    if (auto err = sink(copy))
      ADD_FAILURE() << "serialize: " << sys->render(err);
    caf::message result;
    caf::binary_deserializer source{*sys, buf};
    if (auto err = source(result))
      ADD_FAILURE() << "deserialize: " << sys->render(err);
    return result;
  }
};

TEST_F(protocol_test, a_user_context_round_trips) {
  user_context ctx;
  ctx.user = 42;
  ctx.known = true;
  ctx.version = 7;
  ctx.recent = {{5, behavior_kind::buy, 1700000000}, {6, behavior_kind::view, 1700000100}};
  ctx.bought = {5, 9};
  ctx.similar = {{3, 0.5f}, {4, 0.25f}};
  ctx.vector = {0.6f, 0.8f};
  auto back = round_trip(caf::make_message(context_atom_v, ctx));
  ASSERT_TRUE((back.match_elements<context_atom, user_context>()));
  const auto& r = back.get_as<user_context>(1);
  EXPECT_EQ(r.user, 42);
  EXPECT_TRUE(r.known);
  EXPECT_EQ(r.version, 7u);
  ASSERT_EQ(r.recent.size(), 2u);
  EXPECT_EQ(r.recent[0].kind, behavior_kind::buy);
  EXPECT_EQ(r.recent[1].ts, 1700000100);
  EXPECT_EQ(r.bought, (std::vector<item_id>{5, 9}));
  EXPECT_EQ(r.similar[1].user, 4);
  EXPECT_EQ(r.vector, (std::vector<float>{0.6f, 0.8f}));
}

TEST_F(protocol_test, recall_requests_candidates_and_details_round_trip) {
  recall_request req;
  req.user = 1;
  req.recent = {{2, behavior_kind::cart, 10}};
  req.similar = {{8, 0.9f}};
  req.vector = {1.0f};
  req.per_route = 33;
  req.now = 99;
  req.exclude = {4, 6};
  req.serve = {0b1010, std::uint64_t{1} << 63};
  auto back = round_trip(caf::make_message(recall_atom_v, req));
  ASSERT_TRUE((back.match_elements<recall_atom, recall_request>()));
  EXPECT_EQ(back.get_as<recall_request>(1).per_route, 33);
  const auto& serve = back.get_as<recall_request>(1).serve;
  EXPECT_TRUE(serves_partition(serve, 1) && serves_partition(serve, 3) && serves_partition(serve, 127));
  EXPECT_FALSE(serves_partition(serve, 0) || serves_partition(serve, 64) ||
               serves_partition(serve, 128) || serves_partition(serve, 100000))
    << "a partition past the set's words is not named";
  EXPECT_FALSE(limits::check_recall(req));
  req.serve.assign(limits::max_partitions / 64 + 1, 0);
  EXPECT_TRUE(limits::check_recall(req)) << "a serve set past max_partitions is refused";
  EXPECT_EQ(back.get_as<recall_request>(1).similar[0].user, 8);
  EXPECT_EQ(back.get_as<recall_request>(1).exclude, (std::vector<item_id>{4, 6}));

  std::vector<candidate> cands{{3, recall_route::vector, 0.5f, -1}, {4, recall_route::item_cf, 1.5f, 2}};
  auto c = round_trip(caf::make_message(cands));
  ASSERT_TRUE(c.match_elements<std::vector<candidate>>());
  EXPECT_EQ(c.get_as<std::vector<candidate>>(0)[1].route, recall_route::item_cf);
  EXPECT_EQ(c.get_as<std::vector<candidate>>(0)[1].because, 2);

  std::vector<item_details> details(1);
  details[0].item = 7;
  details[0].title = "Ünïcode title";
  details[0].price = 9.99;
  details[0].rating = 4.5;
  details[0].sales = 12;
  auto d = round_trip(caf::make_message(details));
  ASSERT_TRUE(d.match_elements<std::vector<item_details>>());
  EXPECT_EQ(d.get_as<std::vector<item_details>>(0)[0].title, "Ünïcode title");
  EXPECT_DOUBLE_EQ(d.get_as<std::vector<item_details>>(0)[0].price, 9.99);

  // The catalog metadata crosses nodes too (sql/005_catalog.sql).
  item_details meta{8, "x", 1, 0, 0, {"shoes", "42"}, {"new"}, true, 100, 200, 50, 9};
  auto m = round_trip(caf::make_message(meta));
  ASSERT_TRUE(m.match_elements<item_details>());
  const auto& back_meta = m.get_as<item_details>(0);
  EXPECT_EQ(back_meta.categories, (std::vector<std::string>{"shoes", "42"}));
  EXPECT_EQ(back_meta.labels, (std::vector<std::string>{"new"}));
  EXPECT_TRUE(back_meta.hidden);
  EXPECT_EQ(back_meta.available_from, 100);
  EXPECT_EQ(back_meta.available_until, 200);
  EXPECT_EQ(back_meta.created, 50);
  EXPECT_EQ(back_meta.epoch, 9u);
}

TEST_F(protocol_test, servable_means_not_hidden_and_inside_the_window) {
  item_details d;
  EXPECT_TRUE(servable(d, 1000));
  d.hidden = true;
  EXPECT_FALSE(servable(d, 1000));
  d.hidden = false;
  d.available_from = 1000;
  EXPECT_FALSE(servable(d, 999));
  EXPECT_TRUE(servable(d, 1000));
  d.available_until = 2000;
  EXPECT_TRUE(servable(d, 1999));
  EXPECT_FALSE(servable(d, 2000)); // [from, until)
  d.available_from = 0;
  EXPECT_TRUE(servable(d, 0));
}

TEST_F(protocol_test, item_metadata_is_bounded) {
  item_details d{1, "t", 1.5, 0, 0, {"shoes"}, {"sale"}, false, 0, 0, 0, 0};
  EXPECT_FALSE(limits::check_item_details(d));
  auto bad = d;
  bad.categories.assign(limits::max_categories + 1, "c");
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.labels = {std::string(limits::max_tag + 1, 'x')};
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.labels = {""};
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.labels = {"a\x01b"};
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.labels = {"\xC3"}; // a truncated UTF-8 sequence
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.labels = {"sale", "sale"};
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.title = std::string(limits::max_title + 1, 't');
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.price = -1;
  EXPECT_TRUE(limits::check_item_details(bad));
  bad = d;
  bad.available_from = 200;
  bad.available_until = 100;
  EXPECT_TRUE(limits::check_item_details(bad));
  auto ok = d;
  ok.labels = {"größe-42", "новинка"};
  EXPECT_FALSE(limits::check_item_details(ok));
}

TEST_F(protocol_test, behavior_events_and_item_lists_round_trip) {
  behavior_event e{11, 22, behavior_kind::click, 1234};
  auto back = round_trip(caf::make_message(behavior_atom_v, e, std::int64_t{5}));
  ASSERT_TRUE((back.match_elements<behavior_atom, behavior_event, std::int64_t>()));
  EXPECT_EQ(back.get_as<behavior_event>(1).item, 22);
  EXPECT_EQ(back.get_as<behavior_event>(1).kind, behavior_kind::click);
  auto items = round_trip(caf::make_message(details_atom_v, std::vector<item_id>{1, 2, 3}));
  ASSERT_TRUE((items.match_elements<details_atom, std::vector<item_id>>()));
}

TEST_F(protocol_test, job_messages_round_trip) {
  similarity_task task;
  task.run_id = 5;
  task.kind = job_kind::user_similarity;
  task.graph = engine::bipartite_from_pairs({{1, 10}, {1, 11}, {2, 10}});
  task.measure = 1;
  task.min_common = 3;
  task.min_score = 0.1;
  task.top_k = 7;
  task.regularization = 250;
  auto back = round_trip(caf::make_message(task));
  ASSERT_TRUE((back.match_elements<similarity_task>()));
  const auto& t = back.get_as<similarity_task>(0);
  EXPECT_EQ(t.graph, task.graph);
  EXPECT_EQ(t.kind, job_kind::user_similarity);
  EXPECT_EQ(t.regularization, 250);

  embedding_task emb;
  emb.users = {1, 2};
  emb.items = {5};
  emb.u = {0, 1};
  emb.i = {0, 0};
  emb.w = {1.5f, 2.0f};
  emb.dim = 8;
  auto e = round_trip(caf::make_message(emb));
  ASSERT_TRUE((e.match_elements<embedding_task>()));
  EXPECT_EQ(e.get_as<embedding_task>(0).w, emb.w);

  auto f = round_trip(caf::make_message(
    factor_block{{0, 2}, {1, 2, 3, 4}}, std::vector<double>{1.0, 2.0}));
  ASSERT_TRUE((f.match_elements<factor_block, std::vector<double>>()));
  EXPECT_EQ(f.get_as<factor_block>(0).values.size(), 4u);

  auto p = round_trip(caf::make_message(part_progress_atom_v, part_progress{1, 2, 3}));
  ASSERT_TRUE((p.match_elements<part_progress_atom, part_progress>()));
  auto r = round_trip(
    caf::make_message(progress_atom_v, run_progress{job_kind::embeddings, 4, 10, 99}));
  ASSERT_TRUE((r.match_elements<progress_atom, run_progress>()));
  EXPECT_EQ(r.get_as<run_progress>(1).kind, job_kind::embeddings);
  EXPECT_EQ(r.get_as<run_progress>(1).rows, 99u);
  auto s = round_trip(caf::make_message(std::vector<job_summary>{{job_kind::embeddings, 3, 4, 5, 1.5}}));
  ASSERT_TRUE(s.match_elements<std::vector<job_summary>>());
  EXPECT_EQ(s.get_as<std::vector<job_summary>>(0)[0].rows, 5u);
  auto k = round_trip(caf::make_message(compute_atom_v,
                                        std::vector<job_kind>{job_kind::item_similarity},
                                        run_progress_sink{}));
  ASSERT_TRUE((k.match_elements<compute_atom, std::vector<job_kind>, run_progress_sink>()));
}

TEST_F(protocol_test, cluster_messages_round_trip) {
  auto m = round_trip(caf::make_message(
    move_atom_v, partition_map{7, {shard_actor{}, shard_actor{}}, std::vector<std::uint32_t>{0, 0, no_shard},
                               std::vector<std::uint32_t>{1, no_shard, no_shard}}));
  ASSERT_TRUE((m.match_elements<move_atom, partition_map>()));
  EXPECT_EQ(m.get_as<partition_map>(1).epoch, 7u);
  EXPECT_EQ(m.get_as<partition_map>(1).shards.size(), 2u);
  EXPECT_EQ(m.get_as<partition_map>(1).owner[2], no_shard);
  EXPECT_EQ(m.get_as<partition_map>(1).replica, (std::vector<std::uint32_t>{1, no_shard, no_shard}));
  auto j = round_trip(
    caf::make_message(join_atom_v, shard_join{"shard-a", shard_actor{}, "10.0.0.7:4242"}));
  ASSERT_TRUE((j.match_elements<join_atom, shard_join>()));
  EXPECT_EQ(j.get_as<shard_join>(1).name, "shard-a");
  EXPECT_EQ(j.get_as<shard_join>(1).address, "10.0.0.7:4242");
  auto a = round_trip(caf::make_message(admit_atom_v, sys->node()));
  ASSERT_TRUE((a.match_elements<admit_atom, caf::node_id>()));
  EXPECT_EQ(a.get_as<caf::node_id>(1), sys->node());
  auto f = round_trip(caf::make_message(flip_atom_v, std::uint64_t{8}, std::vector<std::uint32_t>{3}));
  ASSERT_TRUE((f.match_elements<flip_atom, std::uint64_t, std::vector<std::uint32_t>>()));
  auto d = round_trip(caf::make_message(drop_atom_v, std::vector<std::uint32_t>{1, 2}, std::uint64_t{8}));
  ASSERT_TRUE((d.match_elements<drop_atom, std::vector<std::uint32_t>, std::uint64_t>()));
  auto l = round_trip(caf::make_message(leave_atom_v, std::string{"shard-1"}));
  ASSERT_TRUE((l.match_elements<leave_atom, std::string>()));
  auto b = round_trip(caf::make_message(bulk_atom_v, bulk_chunk{9, 1, 3, {'a', 'b'}}));
  ASSERT_TRUE((b.match_elements<bulk_atom, bulk_chunk>()));
  EXPECT_EQ(b.get_as<bulk_chunk>(1).bytes, (std::vector<char>{'a', 'b'}));
  EXPECT_EQ(b.get_as<bulk_chunk>(1).count, 3u);
  auto h = round_trip(caf::make_message(embedding_atom_v, bulk_handle{9, 3, 2048}));
  ASSERT_TRUE((h.match_elements<embedding_atom, bulk_handle>()));
  EXPECT_EQ(h.get_as<bulk_handle>(1).bytes, 2048u);
  auto w = round_trip(caf::make_message(embedding_worker_actor{}));
  ASSERT_TRUE((w.match_elements<embedding_worker_actor>()));
}

// A bulk value survives encoding, cutting into small chunks that arrive out
// of order (each through the wire format), joining and decoding.
TEST_F(protocol_test, bulk_values_survive_chunking_in_any_order) {
  embedding_task emb;
  for (int k = 0; k < 5000; ++k) {
    emb.u.push_back(static_cast<std::uint32_t>(k % 97));
    emb.i.push_back(static_cast<std::uint32_t>(k % 31));
    emb.w.push_back(1.0f + static_cast<float>(k % 4));
  }
  emb.users = {1, 2, 3};
  emb.items = {4, 5};
  emb.dim = 16;
  auto payload = encode_bulk(42, emb, 1000);
  ASSERT_TRUE(payload) << describe(payload.error());
  ASSERT_GT(payload->chunks.size(), 30u);
  EXPECT_EQ(payload->handle.count, payload->chunks.size());
  bulk_inbox inbox;
  for (std::size_t k = payload->chunks.size(); k-- > 0;) {
    auto wire = round_trip(caf::make_message(bulk_atom_v, payload->chunks[k]));
    ASSERT_TRUE((wire.match_elements<bulk_atom, bulk_chunk>()));
    EXPECT_LE(wire.get_as<bulk_chunk>(1).bytes.size(), 1000u);
    ASSERT_FALSE(inbox.add(bulk_chunk{wire.get_as<bulk_chunk>(1)}));
  }
  auto bytes = inbox.take(payload->handle);
  ASSERT_TRUE(bytes) << describe(bytes.error());
  embedding_task back;
  ASSERT_FALSE(decode_bulk(*bytes, back));
  EXPECT_EQ(back.u, emb.u);
  EXPECT_EQ(back.w, emb.w);
  EXPECT_EQ(back.users, emb.users);
  EXPECT_EQ(back.dim, 16);
  EXPECT_EQ(inbox.pending(), 0u);

  similarity_task task;
  task.graph = engine::bipartite_from_pairs({{1, 10}, {1, 11}, {2, 10}});
  auto small = encode_bulk(43, task);
  ASSERT_TRUE(small);
  EXPECT_EQ(small->chunks.size(), 1u);
  ASSERT_FALSE(inbox.add(std::move(small->chunks[0])));
  auto joined = inbox.take(small->handle);
  ASSERT_TRUE(joined);
  similarity_task t;
  ASSERT_FALSE(decode_bulk(*joined, t));
  EXPECT_EQ(t.graph, task.graph);
}

TEST_F(protocol_test, a_bulk_transfer_with_a_missing_chunk_is_refused) {
  std::vector<float> values(3000, 0.5f);
  auto payload = encode_bulk(7, values, 1024);
  ASSERT_TRUE(payload);
  bulk_inbox inbox;
  for (std::size_t k = 1; k < payload->chunks.size(); ++k)
    ASSERT_FALSE(inbox.add(std::move(payload->chunks[k])));
  auto bytes = inbox.take(payload->handle);
  ASSERT_FALSE(bytes);
  EXPECT_NE(describe(bytes.error()).find("chunks arrived"), std::string::npos) << describe(bytes.error());
  EXPECT_FALSE(inbox.take(bulk_handle{99, 1, 0})); // never sent
  EXPECT_TRUE(inbox.add(bulk_chunk{1, 5, 2, {}})); // index beyond its count
  std::vector<float> back;
  std::vector<char> garbage{'x', 'y', 'z'};
  EXPECT_TRUE(decode_bulk(garbage, back));
}

TEST_F(protocol_test, a_packed_vector_round_trips_and_a_size_beyond_its_bytes_is_refused) {
  // ALS factors travel packed (one block of bytes): the same values come back.
  std::vector<float> values{0.5f, -1.25f, 3e-7f, 1e30f};
  auto out = packed(values);
  auto payload = encode_bulk(8, out);
  ASSERT_TRUE(payload);
  bulk_inbox inbox;
  ASSERT_FALSE(inbox.add(std::move(payload->chunks[0])));
  auto bytes = inbox.take(payload->handle);
  ASSERT_TRUE(bytes);
  std::vector<float> back;
  auto in = packed(back);
  ASSERT_FALSE(decode_bulk(*bytes, in));
  EXPECT_EQ(back, values);
  // A hostile size (2^40 elements) with 8 bytes behind it: an error, no allocation.
  std::vector<char> hostile;
  caf::binary_serializer sink{static_cast<caf::execution_unit*>(nullptr), hostile};
  std::size_t huge = std::size_t{1} << 40;
  ASSERT_FALSE(sink.begin_sequence(huge));
  hostile.resize(hostile.size() + 8, '\0');
  std::vector<float> none;
  auto hostile_in = packed(none);
  EXPECT_TRUE(decode_bulk(hostile, hostile_in));
  EXPECT_TRUE(none.empty());
}

TEST_F(protocol_test, a_bulk_inbox_keeps_senders_apart_and_refuses_what_breaks_a_bound) {
  bulk_inbox inbox;
  // One sender cannot take another's transfer.
  ASSERT_FALSE(inbox.add(bulk_chunk{5, 0, 1, std::vector<char>(10, 'a')}, "node-a"));
  EXPECT_FALSE(inbox.take(bulk_handle{5, 1, 10}, "node-b"));
  EXPECT_EQ(inbox.held_bytes("node-a"), 10u);
  // A declared size that differs from what arrived is refused, and nothing
  // is allocated for the declared size.
  auto lied = inbox.take(bulk_handle{5, 1, std::uint64_t{1} << 40}, "node-a");
  ASSERT_FALSE(lied);
  EXPECT_NE(describe(lied.error()).find("declared"), std::string::npos) << describe(lied.error());
  EXPECT_EQ(inbox.held_bytes("node-a"), 0u);
  // A chunk over bulk_chunk_bytes, or a transfer of more chunks than the
  // largest value needs, is refused and nothing is kept.
  EXPECT_TRUE(inbox.add(bulk_chunk{6, 0, 1, std::vector<char>(bulk_chunk_bytes + 1, 'b')}, "node-a"));
  EXPECT_TRUE(inbox.add(bulk_chunk{7, 0, 0xFFFFFFFFu, {}}, "node-a"));
  EXPECT_EQ(inbox.pending(), 0u);
  // A repeated chunk replaces the first copy instead of counting twice.
  ASSERT_FALSE(inbox.add(bulk_chunk{8, 0, 2, std::vector<char>(4, 'c')}, "node-a"));
  ASSERT_FALSE(inbox.add(bulk_chunk{8, 0, 2, std::vector<char>(4, 'c')}, "node-a"));
  EXPECT_EQ(inbox.held_bytes("node-a"), 4u);
  ASSERT_FALSE(inbox.add(bulk_chunk{8, 1, 2, std::vector<char>(2, 'd')}, "node-a"));
  auto joined = inbox.take(bulk_handle{8, 2, 6}, "node-a");
  ASSERT_TRUE(joined) << describe(joined.error());
  EXPECT_EQ(std::string(joined->begin(), joined->end()), "ccccdd");
  EXPECT_EQ(inbox.held_bytes("node-a"), 0u);
}

TEST_F(protocol_test, similarity_plans_and_exchange_pieces_round_trip_and_are_bounded) {
  pair_batch piece;
  piece.run_id = 9;
  piece.index = 2;
  piece.last = true;
  piece.rows = {1, 2, 3};
  piece.cols = {10, 20, 30};
  auto back = round_trip(caf::make_message(pairs_atom_v, piece));
  ASSERT_TRUE((back.match_elements<pairs_atom, pair_batch>()));
  const auto& p = back.get_as<pair_batch>(1);
  EXPECT_EQ(p.rows, piece.rows);
  EXPECT_EQ(p.cols, piece.cols);
  EXPECT_TRUE(p.last);
  EXPECT_EQ(p.index, 2u);
  EXPECT_FALSE(limits::check_pair_batch(piece));
  auto bad = piece;
  bad.cols.pop_back();
  EXPECT_TRUE(limits::check_pair_batch(bad)) << "rows and columns of different lengths";
  bad = piece;
  bad.rows[1] = -1;
  EXPECT_TRUE(limits::check_pair_batch(bad)) << "a negative id";
  bad = piece;
  bad.run_id = 0;
  EXPECT_TRUE(limits::check_pair_batch(bad)) << "run 0";
  bad.run_id = 9;
  bad.rows.assign(limits::max_pair_batch + 1, 1);
  bad.cols.assign(limits::max_pair_batch + 1, 1);
  EXPECT_TRUE(limits::check_pair_batch(bad)) << "an oversize piece";

  similarity_plan plan;
  plan.run_id = 4;
  plan.kind = job_kind::item_weights;
  plan.snapshot = "00000003-0000001B-1";
  plan.behaviors = 0b1010;
  plan.candidates = {3, 5, 8};
  plan.reads = {0, 2};
  plan.partition_count = 4;
  plan.measure = ease_measure;
  plan.regularization = 100;
  plan.top_k = 10;
  plan.max_column_rows = 2000;
  // A peer handle: any actor of this system will do for the bounds.
  auto peer = sys->spawn([]() -> caf::behavior { return {[](int) {}}; });
  plan.peers = {caf::actor_cast<pairs_sink>(peer)};
  plan.peer_addresses = {"10.0.0.7:4242"};
  EXPECT_FALSE(limits::check_similarity_plan(plan));
  auto wrong = plan;
  wrong.snapshot = "1'; DROP TABLE items; --";
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "a snapshot id that is no id";
  wrong = plan;
  wrong.candidates = {5, 3};
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "candidates out of order";
  wrong = plan;
  wrong.reads = {4};
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "a partition beyond the count";
  wrong = plan;
  wrong.behaviors = 0;
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "no behavior kind";
  wrong = plan;
  wrong.peers.clear();
  wrong.peer_addresses.clear();
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "no shard";
  wrong = plan;
  wrong.peer_addresses.clear();
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "a peer without its address";
  wrong = plan;
  wrong.peer_addresses = {std::string(limits::max_address + 1, '1')};
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "an oversize peer address";
  wrong = plan;
  wrong.kind = job_kind::embeddings;
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "the embeddings kind";
  wrong = plan;
  wrong.max_column_rows = -1;
  EXPECT_TRUE(limits::check_similarity_plan(wrong)) << "a sample of a negative size";
  caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
}

TEST_F(protocol_test, job_inputs_with_indices_out_of_range_are_refused_before_use) {
  similarity_task task;
  task.run_id = 3;
  task.graph = engine::bipartite_from_pairs({{1, 10}, {1, 11}, {2, 10}});
  EXPECT_FALSE(limits::check_similarity_task(task));
  auto bad = task;
  bad.graph.cols[0] = 99; // a column that does not exist
  EXPECT_TRUE(limits::check_similarity_task(bad));
  bad = task;
  bad.graph.offsets.back() = 1000; // past the end of cols
  EXPECT_TRUE(limits::check_similarity_task(bad));
  bad = task;
  bad.run_id = 0;
  EXPECT_TRUE(limits::check_similarity_task(bad));
  bad = task;
  bad.kind = static_cast<job_kind>(7);
  EXPECT_TRUE(limits::check_similarity_task(bad));

  embedding_task emb;
  emb.run_id = 1;
  emb.users = {1, 2};
  emb.items = {3};
  emb.u = {0, 1};
  emb.i = {0, 0};
  emb.w = {1, 1};
  EXPECT_FALSE(limits::check_embedding_task(emb));
  emb.u[1] = 2; // no third user
  EXPECT_TRUE(limits::check_embedding_task(emb));
  emb.u[1] = 1;
  emb.w.pop_back();
  EXPECT_TRUE(limits::check_embedding_task(emb));
  // A task whose shard reads its own cells in the driver's snapshot.
  embedding_task reads;
  reads.run_id = 1;
  reads.users = {1, 2};
  reads.items = {3};
  reads.snapshot = "00000003-0000001B-1";
  reads.input_now = 1700000000000000;
  reads.kind_weights = {1, 2, 3, 4};
  reads.half_life_days = 30;
  EXPECT_FALSE(limits::check_embedding_task(reads));
  auto wrong = reads;
  wrong.snapshot = "1'; DROP TABLE user_behavior; --";
  EXPECT_TRUE(limits::check_embedding_task(wrong)) << "a snapshot id that is no id";
  wrong = reads;
  wrong.u = {0};
  wrong.i = {0};
  wrong.w = {1};
  EXPECT_TRUE(limits::check_embedding_task(wrong)) << "cells besides the snapshot";
  wrong = reads;
  wrong.kind_weights = {1, 2, 3};
  EXPECT_TRUE(limits::check_embedding_task(wrong)) << "three kinds' weights";
  wrong = reads;
  wrong.kind_weights[2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(limits::check_embedding_task(wrong)) << "a weight that is no number";
  wrong = reads;
  wrong.users = {2, 1};
  EXPECT_TRUE(limits::check_embedding_task(wrong)) << "users out of order";
  wrong = reads;
  wrong.input_now = 0;
  EXPECT_TRUE(limits::check_embedding_task(wrong)) << "no time to age the cells from";

  EXPECT_TRUE(limits::check_partitions({0, 1}, 0));
  EXPECT_TRUE(limits::check_partitions({64}, 64));
  EXPECT_FALSE(limits::check_partitions({0, 63}, 64));
  EXPECT_TRUE(limits::check_event({-1, 2, behavior_kind::buy, 0}));
  EXPECT_TRUE(limits::check_event({1, 2, static_cast<behavior_kind>(9), 0}));
  EXPECT_TRUE(limits::check_node_name("x'; DROP TABLE"));
  EXPECT_FALSE(limits::check_node_name("shard-0.recd"));
}

// Found by tests/fuzz/bulk.cpp: take() reserved the handle's byte count
// before checking it, so a bad handle threw std::length_error.
TEST_F(protocol_test, a_bulk_handle_claiming_an_impossible_size_is_refused) {
  bulk_inbox inbox;
  ASSERT_FALSE(inbox.add(bulk_chunk{5, 0, 1, {'a', 'b'}}));
  auto bytes = inbox.take(bulk_handle{5, 1, std::uint64_t{1} << 63});
  ASSERT_FALSE(bytes);
  EXPECT_NE(describe(bytes.error()).find("2 bytes, declared"), std::string::npos)
      << describe(bytes.error());
}

TEST_F(protocol_test, recd_errors_round_trip_with_their_context) {
  auto err = make_error(ec::not_found, "unknown item_id 5");
  auto back = round_trip(caf::make_message(err));
  ASSERT_TRUE(back.match_elements<caf::error>());
  EXPECT_EQ(describe(back.get_as<caf::error>(0)), "not_found: unknown item_id 5");
}

TEST_F(protocol_test, a_recommend_request_with_filters_and_a_context_with_seen_items_round_trip) {
  recommend_filter f;
  f.category = "Home & Garden";
  f.exclude = {4, 8, 15};
  f.offset = 20;
  f.exclude_seen = 0;
  auto back = round_trip(caf::make_message(recommend_atom_v, user_id{7}, std::int32_t{10}, true, f));
  ASSERT_TRUE((back.match_elements<recommend_atom, user_id, std::int32_t, bool, recommend_filter>()));
  const auto& r = back.get_as<recommend_filter>(4);
  EXPECT_EQ(r.category, "Home & Garden");
  EXPECT_EQ(r.exclude, (std::vector<item_id>{4, 8, 15}));
  EXPECT_EQ(r.offset, 20);
  EXPECT_EQ(r.exclude_seen, 0);
  EXPECT_TRUE(r.narrows());

  user_context ctx;
  ctx.bought = {1, 2, 3};
  ctx.seen_in_bought = true;
  ctx.purchased = {2};
  auto ctx_back = round_trip(caf::make_message(context_atom_v, ctx));
  const auto& c = ctx_back.get_as<user_context>(1);
  EXPECT_TRUE(c.seen_in_bought);
  EXPECT_EQ(c.purchased, (std::vector<item_id>{2}));
  EXPECT_TRUE(c.seen.empty());
}

TEST_F(protocol_test, recommend_filters_beyond_their_bounds_are_refused) {
  recommend_filter ok;
  ok.exclude = {1, 2};
  EXPECT_FALSE(limits::check_recommend_filter(ok));
  auto bad = [](auto change) {
    recommend_filter f;
    change(f);
    return static_cast<bool>(limits::check_recommend_filter(f));
  };
  EXPECT_TRUE(bad([](auto& f) { f.category = std::string(limits::max_category + 1, 'c'); }));
  EXPECT_TRUE(bad([](auto& f) { f.category = "a\nb"; }));
  EXPECT_TRUE(bad([](auto& f) { f.exclude = {3, 2}; }));
  EXPECT_TRUE(bad([](auto& f) { f.exclude = {2, 2}; }));
  EXPECT_TRUE(bad([](auto& f) { f.exclude = {-1}; }));
  EXPECT_TRUE(bad([](auto& f) { f.exclude.assign(limits::max_request_exclude + 1, 0); }));
  EXPECT_TRUE(bad([](auto& f) { f.offset = limits::max_offset + 1; }));
  EXPECT_TRUE(bad([](auto& f) { f.offset = -1; }));
  EXPECT_TRUE(bad([](auto& f) { f.exclude_seen = 2; }));
}

TEST_F(protocol_test, item_page_and_session_messages_round_trip_and_are_bounded) {
  item_relations rel;
  rel.item = 7;
  rel.neighbours = {{8, 0.5f}};
  rel.co_bought = {{9, 3.0f}, {10, 1.0f}};
  rel.embedding = {0.6f, 0.8f};
  auto back = round_trip(caf::make_message(rel));
  ASSERT_TRUE((back.match_elements<item_relations>()));
  const auto& r = back.get_as<item_relations>(0);
  EXPECT_EQ(r.item, 7);
  ASSERT_EQ(r.co_bought.size(), 2u);
  EXPECT_EQ(r.co_bought[0].item, 9);
  EXPECT_EQ(r.co_bought[0].score, 3.0f);
  EXPECT_EQ(r.embedding, (std::vector<float>{0.6f, 0.8f}));
  auto vecs = round_trip(caf::make_message(vectors_atom_v, std::vector<item_id>{1, 2}));
  ASSERT_TRUE((vecs.match_elements<vectors_atom, std::vector<item_id>>()));
  auto pairs = round_trip(caf::make_message(co_bought_atom_v, item_id{4}, std::vector<item_id>{5}));
  ASSERT_TRUE((pairs.match_elements<co_bought_atom, item_id, std::vector<item_id>>()));
  EXPECT_FALSE(limits::check_partners(4, {5, 6}));
  EXPECT_TRUE(limits::check_partners(4, {4}));
  EXPECT_TRUE(limits::check_partners(4, {-1}));
  EXPECT_TRUE(limits::check_partners(4, std::vector<item_id>(limits::max_partners + 1, 5)));
  EXPECT_FALSE(limits::check_nearest({0.6f, 0.8f}, 10, {1}));
  EXPECT_TRUE(limits::check_nearest({}, limits::max_per_route + 1, {}));
  EXPECT_TRUE(limits::check_nearest(std::vector<float>(limits::max_vector_dim + 1), 1, {}));
  EXPECT_TRUE(limits::check_item_count(-1));
}

TEST_F(protocol_test, batch_ingestion_messages_round_trip_and_are_bounded) {
  applied_batch batch;
  batch.events = {{1, 2, behavior_kind::buy, 1714564800}, {3, 4, behavior_kind::view, 1714564801}};
  batch.ids = {10, 11};
  batch.vectors.items = {2};
  batch.vectors.vectors = {{0.6f, 0.8f}};
  auto back = round_trip(caf::make_message(apply_users_atom_v, batch));
  ASSERT_TRUE((back.match_elements<apply_users_atom, applied_batch>()));
  const auto& b = back.get_as<applied_batch>(1);
  EXPECT_EQ(b.ids, batch.ids);
  EXPECT_EQ(b.events[1].item, 4);
  EXPECT_EQ(b.vectors.vectors, batch.vectors.vectors);
  EXPECT_FALSE(limits::check_applied_batch(batch));
  auto uneven = batch;
  uneven.ids.pop_back();
  EXPECT_TRUE(limits::check_applied_batch(uneven));
  auto long_vector = batch;
  long_vector.vectors.vectors[0].resize(limits::max_vector_dim + 1);
  EXPECT_TRUE(limits::check_applied_batch(long_vector));
  auto bad_event = batch;
  bad_event.events[0].user = -1;
  EXPECT_TRUE(limits::check_applied_batch(bad_event));
  auto v = round_trip(caf::make_message(item_vectors{{5, 6}, {{1.0f}, {}}}));
  ASSERT_TRUE(v.match_elements<item_vectors>());
  EXPECT_EQ(v.get_as<item_vectors>(0).items, (std::vector<item_id>{5, 6}));
  auto r = round_trip(caf::make_message(batch_receipt{{7, 7}, {1, 0}}));
  ASSERT_TRUE(r.match_elements<batch_receipt>());
  EXPECT_EQ(r.get_as<batch_receipt>(0).fresh, (std::vector<std::uint8_t>{1, 0}));
}

TEST_F(protocol_test, new_item_fold_messages_round_trip_and_are_bounded) {
  item_folds folds;
  folds.items = {7, 7};
  folds.kinds = {behavior_kind::buy, behavior_kind::view};
  folds.ids = {40, 41};
  folds.tastes = {{0.6f, 0.8f}, {1.0f, 0.0f}};
  auto back = round_trip(caf::make_message(fold_items_atom_v, folds));
  ASSERT_TRUE((back.match_elements<fold_items_atom, item_folds>()));
  const auto& f = back.get_as<item_folds>(1);
  EXPECT_EQ(f.items, folds.items);
  EXPECT_EQ(f.kinds, folds.kinds);
  EXPECT_EQ(f.ids, folds.ids);
  EXPECT_EQ(f.tastes, folds.tastes);
  EXPECT_FALSE(limits::check_item_folds(folds));
  auto uneven = folds;
  uneven.kinds.pop_back();
  EXPECT_TRUE(limits::check_item_folds(uneven));
  auto empty_taste = folds;
  empty_taste.tastes[1].clear();
  EXPECT_TRUE(limits::check_item_folds(empty_taste));
  auto long_taste = folds;
  long_taste.tastes[0].resize(limits::max_vector_dim + 1, 0.1f);
  EXPECT_TRUE(limits::check_item_folds(long_taste));
  auto not_finite = folds;
  not_finite.tastes[0][1] = NAN;
  EXPECT_TRUE(limits::check_item_folds(not_finite));
  auto bad_kind = folds;
  bad_kind.kinds[0] = static_cast<behavior_kind>(9);
  EXPECT_TRUE(limits::check_item_folds(bad_kind));
  auto negative = folds;
  negative.items[1] = -3;
  EXPECT_TRUE(limits::check_item_folds(negative));

  auto t = round_trip(caf::make_message(tastes_atom_v, std::vector<user_id>{3, 4}));
  ASSERT_TRUE((t.match_elements<tastes_atom, std::vector<user_id>>()));
  auto v = round_trip(caf::make_message(taste_vectors{{3}, {{0.6f, 0.8f}}}));
  ASSERT_TRUE(v.match_elements<taste_vectors>());
  EXPECT_EQ(v.get_as<taste_vectors>(0).vectors.at(0), (std::vector<float>{0.6f, 0.8f}));
  EXPECT_FALSE(limits::check_taste_users({0, 3}));
  EXPECT_TRUE(limits::check_taste_users({-1}));
  EXPECT_TRUE(limits::check_taste_users(std::vector<user_id>(limits::max_batch_events + 1, 1)));
}

} // namespace
} // namespace recd
