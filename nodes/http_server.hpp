#pragma once
// recd's HTTP/1.1 front door: a small asynchronous Boost.Beast server that
// parses requests, hands each one to a callback, and writes the reply whenever
// that callback's reply_fn is invoked — from any thread (in recd: CAF actor
// threads). Beast is kept out of this header on purpose (pimpl), so including
// it costs nothing.
//
// Contract in brief:
//   * one request at a time per connection: the next request (keep-alive or
//     pipelined) is read only after the previous reply has been written;
//   * the server answers some requests itself, always with a JSON body
//     {"error": ..., "status": ...}: 400 unparsable HTTP or bad percent-encoding,
//     413 body over max_body_bytes, 431 header over max_header_bytes, 500
//     handler threw, 503 handler did not reply within handler_timeout, 503 to a
//     new connection when max_connections are open and none is idle;
//   * every response carries `Server: recd` and a Content-Length; every 503
//     carries `Retry-After` (1 s unless the handler set one).
//
// Bounds on what one client can hold (server_options):
//   * a connection is IDLE while it waits for the first byte of its next (or
//     first) request; idle longer than idle_timeout, it is closed;
//   * from a request's first byte its whole header must arrive within
//     header_timeout, its body then within body_timeout, and the client must
//     take the reply within body_timeout; otherwise the connection is dropped
//     without a reply (slow clients, slow-loris);
//   * at most max_connections connections are served. A new one beyond that
//     closes the connection that has been idle longest; with none idle it gets
//     the 503 (Retry-After: 1) and is closed (with more than 64 such refusals
//     in flight, closed without a reply). An idle connection whose next
//     request starts at the moment it is chosen is closed too, exactly as when
//     any server closes an idle keep-alive connection (the race HTTP/1.1
//     clients handle by retrying idempotent requests).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace recd::http {

// A parsed request, owned by the handler once delivered.
struct request {
  std::string method; // "GET", "POST", ... as sent
  std::string path;   // percent-decoded path, no query string
  // Percent-decoded ('+' -> space), in order, repeats kept.
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  std::string content_type; // Content-Type header value or ""
  // Every header as sent, names lower-cased, in order (Content-Type included).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string peer;         // the client's address ("127.0.0.1"), for logs and limits
  // The request id: the client's X-Request-Id if it is 1..64 characters of
  // [A-Za-z0-9._-], else a fresh one. The server sends it back in the
  // response's X-Request-Id; logs of this request carry it.
  std::string id;

  // The first value given for `key`, if any. The view points into `query`.
  std::optional<std::string_view> param(std::string_view key) const;
  // The first value of header `name` (lower-case), if any. Points into `headers`.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct response {
  response() = default;
  response(unsigned s, std::string b, std::string type = "application/json")
      : status(s), body(std::move(b)), content_type(std::move(type)) {}

  unsigned status = 200; // must be 200..599; anything else is replaced by a 500
  std::string body;
  std::string content_type = "application/json";
  // Extra headers (WWW-Authenticate, Retry-After, ...). A name or value with
  // CR or LF is dropped (no header injection); Content-Length, Connection and
  // Server are the server's own and are ignored here.
  std::vector<std::pair<std::string, std::string>> headers;
  // Never sent: why a 5xx happened (a driver's or actor's error text), for
  // the one log line of the failed request (server_options::on_exchange).
  std::string detail;
};

// One finished exchange, as server_options::on_exchange sees it: the request
// (method and path empty when it could not be parsed), the response's status
// and detail, and the time from the complete request to its response.
struct exchange {
  std::string_view method;
  std::string_view path;
  std::string_view id;
  unsigned status = 0;
  std::string_view detail;
  double seconds = 0;
};

// A fresh request id: 16 hex digits, random per process and counted.
std::string new_request_id();

// The id to use for a request carrying `header` (its X-Request-Id, if any).
std::string request_id_for(std::optional<std::string_view> header);

// Completes one request. Call exactly once, from any thread; later calls (and
// calls after the timeout reply, after the connection closed, or after the
// server stopped) are ignored. Cheap to copy; copies share the "called" state.
// Called before the handler returns (on the connection's own thread), the
// reply is written at once; from elsewhere it is posted to that thread.
using reply_fn = std::function<void(response)>;

// Receives each request on an Asio thread: it must not block. With several
// io threads it is called concurrently (for different connections), so it
// must be thread-safe. Exceptions it throws become a 500 reply.
using handler_fn = std::function<void(request&&, reply_fn)>;

struct server_options {
  std::string host = "127.0.0.1"; // an address or a resolvable name
  std::uint16_t port = 8080;      // 0 = pick a free port (see server::port())
  int threads = 2;                // io threads, each running its own io_context; a
                                  // connection stays on one (handed out in turn)
  std::size_t max_body_bytes = 64 * 1024;          // 413 above
  std::size_t max_header_bytes = 8 * 1024;         // request line + headers; 431 above
  std::size_t max_connections = 4096;              // see "Bounds" above
  std::chrono::milliseconds header_timeout{10000}; // first byte to end of header
  std::chrono::milliseconds body_timeout{30000};   // the body; also writing a reply
  std::chrono::milliseconds idle_timeout{30000};   // waiting for a request's first byte
  std::chrono::milliseconds handler_timeout{5000}; // no reply by then: 503 {"error":"timeout"}
  // Called once per response, on the connection's thread as the response is
  // written (also for the server's own error replies): metrics and the log
  // line of a failed request. Must not block; may be empty.
  std::function<void(const exchange&)> on_exchange;
  // Batch routes: a POST whose path (query aside) is one of these may carry a
  // body of up to max_batch_body_bytes instead (0 = no exception).
  std::vector<std::string> batch_paths;
  std::size_t max_batch_body_bytes = 0;
};

// {"error": message, "status": status} as compact JSON. Invalid UTF-8 in the
// message is replaced rather than thrown on.
std::string json_error(unsigned status, std::string_view message);

// Percent-decodes `text`; with plus_as_space, '+' becomes ' ' (query strings).
// nullopt if a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space);

// `s` without leading and trailing ASCII whitespace (header values, key files).
std::string_view trim(std::string_view s);

// Splits a raw query string ("a=1&b=x+y") into decoded pairs, in order. Empty
// pieces are skipped; a piece without '=' has an empty value. nullopt on bad
// percent-encoding.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view raw);

class server {
public:
  server(server_options opt, handler_fn handler);
  ~server(); // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds, listens and spawns the io threads. Returns an error text on failure
  // (e.g. "bind 127.0.0.1:8080: Address already in use"); nullopt on success.
  // Call at most once.
  std::optional<std::string> start();

  // The bound port (meaningful after a successful start()), else 0.
  std::uint16_t port() const;

  // Connections holding one of the max_connections slots right now (for
  // tests and metrics; a connection being refused with a 503 holds none).
  std::size_t connections() const;

  // Stops accepting, closes idle connections at once, gives requests still
  // waiting for their reply a short grace (~1 s) to be written, then drops
  // the rest and joins the threads. Idempotent; safe to call if start() failed.
  // Must not be called from a handler (it joins the io threads).
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace recd::http
