// The generic HTTP server (nodes/http_server.hpp), exercised over real
// loopback sockets with a small Beast client whose every operation has a
// deadline, so a misbehaving server fails a test instead of hanging it
// (support/http_server_harness.hpp). How replies reach their connections and
// the io threads: http_server_threads_test.

#include "support/http_server_harness.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace recd::test_http;

// ---------------------------------------------------------------------------

TEST(HttpServer, GetDecodesPathAndQueryInOrder) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  const auto res = c.get("/a%20b/c+d?x=1&y=hello+world&z=%26%3D%2B&&x=2&flag&empty=");
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[bhttp::field::server], "recd");
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res[bhttp::field::content_length], std::to_string(res.body().size()));
  const auto j = json::parse(res.body());
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/a b/c+d"); // '+' is literal in a path
  const json expected_query = json::array(
      {{"x", "1"}, {"y", "hello world"}, {"z", "&=+"}, {"x", "2"}, {"flag", ""}, {"empty", ""}});
  EXPECT_EQ(j["query"], expected_query);
  EXPECT_EQ(j["first_x"], "1");
  EXPECT_EQ(j["body"], "");
  EXPECT_EQ(j["content_type"], "");
}

TEST(HttpServer, PostDeliversBodyAndContentType) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  const std::string body = R"({"user_id": 1, "item_id": 2, "behavior_type": "view"})";
  c.send("POST /api/behavior HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  const auto res = c.read();
  ASSERT_EQ(res.result_int(), 200u);
  const auto j = json::parse(res.body());
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/api/behavior");
  EXPECT_EQ(j["body"], body);
  EXPECT_EQ(j["content_type"], "application/json");
}

TEST(HttpServer, ChunkedBodyIsReassembled) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  c.send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  const auto res = c.read();
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(json::parse(res.body())["body"], "hello world");
}

TEST(HttpServer, KeepAliveServesTwoRequestsOnOneConnection) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  const auto first = c.get("/one");
  ASSERT_EQ(first.result_int(), 200u);
  EXPECT_TRUE(first.keep_alive());
  EXPECT_EQ(json::parse(first.body())["path"], "/one");
  const auto second = c.get("/two");
  ASSERT_EQ(second.result_int(), 200u);
  EXPECT_EQ(json::parse(second.body())["path"], "/two");
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  c.send("GET /p1 HTTP/1.1\r\nHost: t\r\n\r\n"
         "POST /p2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
         "GET /p3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(json::parse(c.read().body())["path"], "/p1");
  const auto second = json::parse(c.read().body());
  EXPECT_EQ(second["path"], "/p2");
  EXPECT_EQ(second["body"], "abc");
  const auto third = c.read();
  EXPECT_EQ(json::parse(third.body())["path"], "/p3");
  EXPECT_FALSE(third.keep_alive());
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, Http10WithoutKeepAliveIsClosedAfterTheReply) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  c.send("GET /old HTTP/1.0\r\n\r\n");
  const auto res = c.read();
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.version(), 10u);
  EXPECT_EQ(json::parse(res.body())["path"], "/old");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, Http10KeepAliveKeepsTheConnection) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const auto first = c.read();
  EXPECT_EQ(first.result_int(), 200u);
  EXPECT_TRUE(first.keep_alive());
  c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(json::parse(c.read().body())["path"], "/b");
}

TEST(HttpServer, HeadGetsHeadersWithoutBody) {
  auto srv = start_server(test_options(), [](request&&, reply_fn reply) {
    reply({200, R"({"ok":true})"});
  });
  client c{srv->port()};
  c.send("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto head = c.read(/*head=*/true);
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(head[bhttp::field::content_length], "11");
  EXPECT_TRUE(head.body().empty());
  // The connection is still in sync: no stray body bytes were sent.
  EXPECT_EQ(c.get("/after").body(), R"({"ok":true})");
}

TEST(HttpServer, ExpectContinueGetsAnInterimResponse) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  c.send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  EXPECT_EQ(c.read().result_int(), 100u);
  c.send("data");
  const auto res = c.read();
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(json::parse(res.body())["body"], "data");
}

TEST(HttpServer, OversizedBodyGets413AndTheConnectionCloses) {
  auto opt = test_options();
  opt.max_body_bytes = 1024;
  auto srv = start_server(opt, echo);
  {
    client c{srv->port()};
    const std::string body(100 * 1024, 'x');
    c.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body);
    const auto res = c.read();
    EXPECT_EQ(res.result_int(), 413u);
    EXPECT_EQ(res.body(), R"({"error":"request body too large","status":413})");
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(c.closed_by_peer());
  }
  { // Without a Content-Length the limit still holds.
    client c{srv->port()};
    const std::string chunk(800, 'y');
    c.send("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           "320\r\n" +
           chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    EXPECT_EQ(c.read().result_int(), 413u);
  }
  { // Exactly at the limit is fine.
    client c{srv->port()};
    const std::string body(1024, 'z');
    c.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" + body);
    EXPECT_EQ(c.read().result_int(), 200u);
  }
}

TEST(HttpServer, GarbageBytesGet400JsonError) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  c.send(std::string{"\x16\x03\x01\x02\x00 garbage \x01\x02\r\n\r\n", 20});
  const auto res = c.read();
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  const auto j = json::parse(res.body());
  EXPECT_EQ(j["status"], 400);
  EXPECT_TRUE(j["error"].is_string());
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, InvalidPercentEncodingGets400) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  for (const char* target : {"/a%zz", "/a%4", "/ok?q=%4", "/ok?q=%G1", "/ok?%=1"}) {
    const auto res = c.get(target); // the connection stays usable
    EXPECT_EQ(res.result_int(), 400u) << target;
    EXPECT_EQ(json::parse(res.body())["status"], 400) << target;
  }
  EXPECT_EQ(c.get("/fine%2Fstill").result_int(), 200u);
}

TEST(HttpServer, HandlerExceptionGets500) {
  auto srv = start_server(test_options(),
                          [](request&&, reply_fn) -> void { throw std::runtime_error{"boom"}; });
  client c{srv->port()};
  const auto res = c.get("/x");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(res.body(), R"({"error":"internal server error","status":500})");
}

TEST(HttpServer, CustomContentTypeAndNoContentStatus) {
  auto srv = start_server(test_options(), [](request&& r, reply_fn reply) {
    if (r.path == "/text")
      return reply({200, "plain", "text/plain"});
    reply({204, "ignored"});
  });
  client c{srv->port()};
  const auto text = c.get("/text");
  EXPECT_EQ(text[bhttp::field::content_type], "text/plain");
  EXPECT_EQ(text.body(), "plain");
  const auto none = c.get("/none");
  EXPECT_EQ(none.result_int(), 204u);
  EXPECT_TRUE(none.body().empty());
  EXPECT_EQ(c.get("/text").body(), "plain"); // still in sync
}

TEST(HttpServer, SlowRequestIsCutOffAfterHeaderTimeout) {
  auto opt = test_options();
  opt.header_timeout = 200ms;
  auto srv = start_server(opt, echo);
  client c{srv->port()};
  c.send("GET /slow HTTP/1.1\r\nHost: t\r\n"); // never finished
  EXPECT_TRUE(c.closed_by_peer(30000ms)); // closed by the header timeout, not left open
}

TEST(HttpServer, StopReturnsPromptlyWithAnIdleKeepAliveConnection) {
  auto srv = start_server(test_options(), echo);
  client c{srv->port()};
  ASSERT_EQ(c.get("/warm").result_int(), 200u);
  const auto start = steady::now();
  srv->stop();
  // Well under the pending-reply grace (~1 s): an idle connection is closed at
  // once, not waited for (generous: a shared machine stalls threads at times).
  EXPECT_LT(steady::now() - start, 900ms);
  EXPECT_TRUE(c.closed_by_peer());
  srv->stop(); // idempotent
}

TEST(HttpServer, StopDropsAPendingReplyAfterAShortGrace) {
  auto opt = test_options();
  opt.handler_timeout = 60s;
  std::mutex mu;
  std::vector<reply_fn> parked;
  std::atomic<bool> received{false};
  auto srv = start_server(opt, [&](request&&, reply_fn reply) {
    std::lock_guard lock{mu};
    parked.push_back(std::move(reply));
    received = true;
  });
  client c{srv->port()};
  c.send("GET /pending HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500 && !received; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(received);
  const auto start = steady::now();
  srv->stop();
  const auto took = steady::now() - start;
  EXPECT_GE(took, 500ms); // the grace was given
  EXPECT_LT(took, 30s);   // and stop() returned (a bound against a hang)
  srv.reset();
  // Replying after the server is gone is a harmless no-op.
  std::lock_guard lock{mu};
  parked.front()({200, "{}"});
}

TEST(HttpServer, PendingReplyWithinTheGraceIsStillWritten) {
  foreign_threads pool;
  std::atomic<bool> received{false};
  auto srv = start_server(test_options(), [&](request&&, reply_fn reply) {
    received = true;
    pool.spawn([reply] {
      std::this_thread::sleep_for(200ms);
      reply({200, R"({"done":true})"});
    });
  });
  client c{srv->port()};
  c.send("GET /slow-reply HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500 && !received; ++i)
    std::this_thread::sleep_for(5ms);
  srv->stop();
  const auto res = c.read();
  EXPECT_EQ(res.body(), R"({"done":true})");
  EXPECT_FALSE(res.keep_alive());
}

TEST(HttpServer, StartOnAPortInUseReturnsAnError) {
  auto first = start_server(test_options(), echo);
  auto opt = test_options();
  opt.port = first->port();
  server second{opt, echo};
  const auto error = second.start();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("in use"), std::string::npos) << *error;
  second.stop(); // fine after a failed start
}

TEST(HttpServer, StartOnAForeignAddressReturnsAnError) {
  auto opt = test_options();
  opt.host = "192.0.2.1"; // TEST-NET-1: never a local address
  server s{opt, echo};
  const auto error = s.start();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rfind("bind 192.0.2.1:0: ", 0), 0u) << *error;
}

TEST(HttpServer, JsonErrorHasErrorAndStatus) {
  EXPECT_EQ(recd::http::json_error(413, "request body too large"),
            R"({"error":"request body too large","status":413})");
  EXPECT_EQ(recd::http::json_error(400, "quote \" and \xff"),
            "{\"error\":\"quote \\\" and \xEF\xBF\xBD\",\"status\":400}");
}

} // namespace
