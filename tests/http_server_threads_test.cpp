// How the HTTP server (nodes/http_server.hpp) gets replies to their
// connections: given inside the handler call (written at once) or later from
// other threads (posted to the connection's io thread), at most once, never
// to another connection, and the handler timeout when none comes; and how
// connections are spread over the io threads (one io_context each). Real
// loopback sockets (support/http_server_harness.hpp).

#include "support/http_server_harness.hpp"

#include <map>
#include <set>
#include <utility>

namespace {

using namespace recd::test_http;

// Replies a handler holds back, to give late or never.
struct parked_replies {
  std::mutex mu;
  std::vector<reply_fn> held;
  void park(reply_fn reply) {
    std::lock_guard lock{mu};
    held.push_back(std::move(reply));
  }
  std::size_t count() {
    std::lock_guard lock{mu};
    return held.size();
  }
  std::vector<reply_fn> take() {
    std::lock_guard lock{mu};
    return std::exchange(held, {});
  }
};

TEST(HttpServer, HandlerThatNeverRepliesGets503AndALateReplyIsIgnored) {
  auto opt = test_options();
  opt.handler_timeout = 200ms;
  parked_replies parked;
  auto srv = start_server(opt, [&](request&& r, reply_fn reply) {
    if (r.path == "/never")
      return parked.park(std::move(reply));
    echo(std::move(r), std::move(reply));
  });
  client c{srv->port()};
  const auto start = steady::now();
  const auto res = c.get("/never");
  const auto waited = steady::now() - start;
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_EQ(res.body(), R"({"error":"timeout","status":503})");
  EXPECT_GE(waited, 190ms); // the handler timeout answered, not something earlier
  EXPECT_LT(waited, 30s);   // and it did answer (a bound against a hang, not a speed claim)

  { // Too late: must not be written to the connection.
    auto late = parked.take();
    ASSERT_EQ(late.size(), 1u);
    late.front()({200, R"({"late":true})"});
  }
  const auto next = c.get("/next");
  ASSERT_EQ(next.result_int(), 200u);
  EXPECT_EQ(json::parse(next.body())["path"], "/next");
}

TEST(HttpServer, ReplyFromAForeignThreadIsDeliveredOnce) {
  foreign_threads pool;
  auto srv = start_server(test_options(), [&](request&& r, reply_fn reply) {
    pool.spawn([path = r.path, reply] {
      std::this_thread::sleep_for(50ms);
      reply({201, R"({"from":"thread","path":")" + path + "\"}", "application/json"});
      reply({500, "second call must be ignored"});
    });
  });
  client c{srv->port()};
  for (const char* path : {"/t1", "/t2"}) {
    const auto res = c.get(path);
    EXPECT_EQ(res.result_int(), 201u);
    EXPECT_EQ(json::parse(res.body())["path"], path);
  }
}

TEST(HttpServer, ManyConnectionsGetTheirOwnForeignReplies) {
  foreign_threads pool;
  auto srv = start_server(test_options(), [&](request&& r, reply_fn reply) {
    pool.spawn([path = r.path, reply] {
      std::this_thread::sleep_for(20ms);
      reply({200, json{{"path", path}}.dump()});
    });
  });
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      client c{srv->port()};
      for (int k = 0; k < 5; ++k) {
        const auto path = "/c" + std::to_string(i) + "/" + std::to_string(k);
        if (json::parse(c.get(path).body())["path"] == path)
          ++ok;
      }
    });
  }
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(ok.load(), 40);
}

// A reply given inside the handler call is written at once (no post), once;
// a reply the handler gives to another connection's parked request goes to
// that connection, not to the one whose handler gave it; and the handler
// timeout armed for answers from elsewhere does not hit an inline-answered
// connection later.
TEST(HttpServer, InlineRepliesGoToTheirOwnConnectionOnce) {
  auto opt = test_options();
  opt.handler_timeout = 100ms;
  parked_replies parked;
  auto srv = start_server(opt, [&](request&& r, reply_fn reply) {
    if (r.path == "/park")
      return parked.park(std::move(reply));
    if (r.path == "/release")
      for (auto& p : parked.take())
        p({200, R"({"released":true})"});
    reply({200, json{{"path", r.path}}.dump()});
    reply({500, "second call must be ignored"});
  });
  client waiting{srv->port()};
  ASSERT_FALSE(waiting.send("GET /park HTTP/1.1\r\nHost: test\r\n\r\n"));
  const auto deadline = steady::now() + 5s;
  while (parked.count() == 0) { // until the handler holds it
    ASSERT_LT(steady::now(), deadline) << "the parked request never reached the handler";
    std::this_thread::sleep_for(1ms);
  }
  client other{srv->port()};
  const auto released = other.get("/release");
  EXPECT_EQ(released.result_int(), 200u);
  EXPECT_EQ(json::parse(released.body())["path"], "/release");
  const auto parked_reply = waiting.read();
  EXPECT_EQ(parked_reply.result_int(), 200u);
  EXPECT_EQ(parked_reply.body(), R"({"released":true})");

  client c{srv->port()};
  for (const char* path : {"/a", "/b"}) {
    const auto res = c.get(path);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(json::parse(res.body())["path"], path);
  }
  std::this_thread::sleep_for(3 * opt.handler_timeout); // a stray timeout would be read next
  const auto res = c.get("/c");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(json::parse(res.body())["path"], "/c");
}

// Each io thread runs its own io_context and connections are handed to them
// in turn: with two threads, two connections are served by two threads, and
// every request of one connection by the same one.
TEST(HttpServer, ConnectionsAreSpreadOverTheIoThreadsAndEachStaysOnOne) {
  std::mutex mu;
  std::map<std::string, std::set<std::thread::id>> seen; // connection -> threads
  auto srv = start_server(test_options(), [&](request&& r, reply_fn reply) {
    {
      std::lock_guard lock{mu};
      seen[r.path.substr(0, r.path.find('/', 1))].insert(std::this_thread::get_id());
    }
    reply({200, "{}"});
  });
  std::vector<std::unique_ptr<client>> clients;
  for (int i = 0; i < 4; ++i)
    clients.push_back(std::make_unique<client>(srv->port()));
  for (int k = 0; k < 5; ++k)
    for (std::size_t i = 0; i < clients.size(); ++i)
      EXPECT_EQ(clients[i]->get("/c" + std::to_string(i) + "/" + std::to_string(k)).result_int(), 200u);
  std::set<std::thread::id> all;
  for (const auto& [connection, threads] : seen) {
    EXPECT_EQ(threads.size(), 1u) << connection;
    all.insert(threads.begin(), threads.end());
  }
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(all.size(), 2u);
}

} // namespace
