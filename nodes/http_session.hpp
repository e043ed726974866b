#pragma once
// One connection of the Beast server behind http_server.hpp (internal to
// http_server.cpp, its only includer): the session, all of whose work runs on
// the one thread of its io_context (no strand needed), and the context that
// sessions and reply_fns share and keep alive: the options, the handler, the
// connection registry (http_connections.hpp: slots, idle order, eviction) and
// the "stopped" gate that keeps foreign threads off a dead io_context.

#include "nodes/http_server.hpp"
#include "nodes/http_connections.hpp"
#include "nodes/http_request.hpp" // request parsing and conversion, shared with the fuzzer

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <mutex>
#include <thread>

namespace recd::http::detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;
// A session's executor: its io_context's, which one thread runs. Concrete
// (not any_io_executor), so handlers are dispatched without type erasure or
// reference counts.
using executor_type = net::io_context::executor_type;
using socket_type = net::basic_stream_socket<tcp, executor_type>;
using stream_type = beast::basic_stream<tcp, executor_type>;
using timer_type = net::basic_waitable_timer<std::chrono::steady_clock,
                                             net::wait_traits<std::chrono::steady_clock>, executor_type>;

// ---------------------------------------------------------------------------
// Shared state

// How long stop() lets requests that still await their reply finish.
constexpr std::chrono::milliseconds stop_grace{1000};
// After an error reply we stop sending and discard what the client still
// sends (its unread request body) for a while before closing: closing with
// unread input makes the kernel send RST, which can destroy our reply before
// the client reads it ("lingering close").
constexpr std::chrono::milliseconds linger_time{1000};
constexpr std::size_t linger_max_bytes = 1 << 20;

class session;

// What the sessions and their reply_fns share; kept alive by both.
struct context {
  context(server_options o, handler_fn h)
      : opt(std::move(o)), handler(std::move(h)), registry(opt.max_connections) {}

  const server_options opt;
  const handler_fn handler;

  // Foreign threads post replies only while holding post_mu and only while
  // !stopped; stop() sets stopped before the io_context can be destroyed.
  std::mutex post_mu;
  bool stopped = false;

  connection_registry<session> registry;
};

// ---------------------------------------------------------------------------
// One connection

class session : public std::enable_shared_from_this<session> {
public:
  session(socket_type&& socket, std::shared_ptr<context> ctx)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), ctx_(std::move(ctx)) {}

  ~session() { ctx_->registry.remove(this); }

  // The session's executor; constant after construction, so any thread may use it.
  executor_type executor() { return stream_.get_executor(); }

  void start() {
    net::dispatch(executor(), [self = shared_from_this()] { self->wait_request(); });
  }

  // Answers 503 (the server is full) and closes.
  void refuse() {
    net::dispatch(executor(), [self = shared_from_this()] {
      self->write_error({503, json_error(503, "too many connections, retry later")});
    });
  }

  // From any thread: this session gave its slot to a new connection.
  void evict() {
    net::post(executor(), [self = shared_from_this()] {
      if (self->phase_ == phase::idle)
        self->close_now(); // the pending read ends with operation_aborted
    });
  }

  // From any thread: close now if idle, else right after the pending reply.
  void request_shutdown() {
    net::post(executor(), [self = shared_from_this()] { self->on_shutdown(); });
  }

  // On the session's thread: the reply for request number `seq` has arrived.
  void deliver(std::uint64_t seq, response res) {
    if (seq != seq_ || phase_ != phase::handling)
      return; // stale, timed out or closed
    timer_.cancel(); // none is armed when the handler answered inline
    write_response(std::move(res), keep_alive_ && !stopping_);
  }

private:
  enum class phase { idle, reading, handling, writing, lingering, closed };

  // Between requests: bytes of the next one may already be buffered
  // (pipelining); if not, the session is idle until its first byte arrives.
  void wait_request() {
    if (stopping_)
      return close_now();
    parser_.emplace();
    apply_limits(*parser_, ctx_->opt);
    if (buffer_.size() > 0)
      return read_header();
    phase_ = phase::idle;
    ctx_->registry.mark_idle(this);
    stream_.expires_after(ctx_->opt.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](error_code ec,
                                                                            std::size_t n) {
      const bool evicted = self->ctx_->registry.mark_busy(self.get());
      if (self->phase_ == phase::closed)
        return;
      if (ec || evicted || n == 0)
        return self->close_now(); // idle timeout, client gone, or evicted
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    phase_ = phase::reading;
    stream_.expires_after(ctx_->opt.header_timeout); // slow-loris: the whole header, not per byte
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  void on_header(error_code ec, std::size_t) {
    if (phase_ == phase::closed)
      return;
    if (ec)
      return on_read_error(ec);
    if (parser_->is_done())
      return on_request();
    const auto& req = parser_->get();
    if (!body_within_limit(req))
      return write_error(*read_error_reply(bhttp::error::body_limit));
    if (req.version() >= 11 && beast::iequals(req[bhttp::field::expect], "100-continue")) {
      // Clients such as curl wait for this before sending a body.
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(cont.data(), cont.size()),
                       [self = shared_from_this()](error_code wec, std::size_t) {
                         if (self->phase_ == phase::closed)
                           return;
                         if (wec)
                           return self->close_now();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  // The parser admits bodies up to the larger of max_body_bytes and
  // max_batch_body_bytes (apply_limits); only a POST to a batch route
  // (server_options::batch_paths) may use the larger one. False: a declared
  // Content-Length is over this request's limit (chunked bodies are cut by
  // the parser at it).
  template <class Header>
  bool body_within_limit(const Header& req) {
    const auto& opt = ctx_->opt;
    if (opt.max_batch_body_bytes <= opt.max_body_bytes)
      return true;
    if (req.method() == bhttp::verb::post) {
      auto target = req.target();
      auto path = target.substr(0, target.find('?'));
      for (const auto& p : opt.batch_paths)
        if (path == p)
          return true;
    }
    parser_->body_limit(opt.max_body_bytes);
    auto declared = parser_->content_length();
    return !declared || *declared <= opt.max_body_bytes;
  }

  void read_body() {
    stream_.expires_after(ctx_->opt.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->phase_ == phase::closed)
                          return;
                        if (ec)
                          return self->on_read_error(ec);
                        self->on_request();
                      });
  }

  void on_read_error(error_code ec) {
    if (auto reply = read_error_reply(ec))
      return write_error(std::move(*reply));
    close_now();
  }

  // Error replies before the handler saw the request: always close afterwards,
  // since the rest of the input cannot be trusted to be framed.
  void write_error(response reply) {
    version_ = 11;
    head_ = false;
    method_.clear();
    path_.clear();
    id_.clear();
    started_ = std::chrono::steady_clock::now();
    write_response(std::move(reply), false);
  }

  void on_request() {
    auto msg = parser_->release();
    version_ = msg.version();
    keep_alive_ = msg.keep_alive();
    head_ = msg.method() == bhttp::verb::head;
    method_.clear();
    path_.clear();
    id_.clear();
    started_ = std::chrono::steady_clock::now();

    auto converted = to_request(std::move(msg));
    if (auto* reply = std::get_if<response>(&converted))
      return write_response(std::move(*reply), keep_alive_);
    auto& req = std::get<request>(converted);
    req.id = request_id_for(req.header("x-request-id"));
    method_ = req.method;
    path_ = req.path;
    id_ = req.id;
    {
      error_code ignored;
      auto peer = stream_.socket().remote_endpoint(ignored);
      if (!ignored)
        req.peer = peer.address().to_string();
    }

    phase_ = phase::handling;
    const auto seq = ++seq_;
    // A reply given before the handler returns (a cached answer, a probe,
    // a client error) is written at once, without a post: this thread is
    // the session's.
    struct handling_scope {
      explicit handling_scope(session* s) : outer(handling_now) { handling_now = s; }
      ~handling_scope() { handling_now = outer; }
      session* outer;
    };
    try {
      handling_scope scope{this};
      ctx_->handler(std::move(req), make_reply_fn(seq));
    } catch (...) {
      deliver(seq, {500, json_error(500, "internal server error")});
    }
    // Still unanswered: the handler's answer comes from another thread (its
    // post cannot run before this returns), or the timeout does.
    if (seq == seq_ && phase_ == phase::handling) {
      timer_.expires_after(ctx_->opt.handler_timeout);
      timer_.async_wait([self = shared_from_this(), seq](error_code ec) {
        if (!ec)
          self->deliver(seq, {503, json_error(503, "timeout")});
      });
    }
  }

  // The session whose handler call this thread is in, if any.
  static inline thread_local session* handling_now = nullptr;

  reply_fn make_reply_fn(std::uint64_t seq) {
    // Shared by all copies of the reply_fn: only the first call counts.
    struct slot {
      std::weak_ptr<session> target;
      std::shared_ptr<context> ctx;
      std::uint64_t seq;
      std::atomic<bool> fired{false};
    };
    auto s = std::make_shared<slot>();
    s->target = weak_from_this();
    s->ctx = ctx_;
    s->seq = seq;
    return [s](response res) {
      if (s->fired.exchange(true))
        return;
      if (handling_now != nullptr) // some session's handler call is on this thread
        if (auto target = s->target.lock(); target.get() == handling_now) {
          // On the target's thread, inside its on_request (see there).
          target->deliver(s->seq, std::move(res));
          return;
        }
      std::lock_guard lock{s->ctx->post_mu};
      if (s->ctx->stopped)
        return;
      if (auto target = s->target.lock()) {
        net::post(target->executor(), [target, seq = s->seq, res = std::move(res)]() mutable {
          target->deliver(seq, std::move(res));
        });
      }
    };
  }

  void write_response(response res, bool keep_alive) {
    phase_ = phase::writing;
    if (res.status < 200 || res.status > 599)
      res = {500, json_error(500, "invalid response status")};

    out_ = {};
    out_.version(version_);
    out_.result(res.status);
    out_.set(bhttp::field::server, "recd");
    if (!res.content_type.empty())
      out_.set(bhttp::field::content_type, res.content_type);
    out_.keep_alive(keep_alive);
    for (const auto& [name, value] : res.headers) {
      if (name.find_first_of("\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos)
        continue;
      const auto field = bhttp::string_to_field(name);
      if (field == bhttp::field::content_length || field == bhttp::field::connection ||
          field == bhttp::field::server || field == bhttp::field::transfer_encoding)
        continue;
      out_.set(name, value);
    }
    if (res.status == 503 && out_.find(bhttp::field::retry_after) == out_.end())
      out_.set(bhttp::field::retry_after, "1"); // every 503 says when to come back
    if (id_.empty())
      id_ = new_request_id(); // a reply before any request was parsed
    out_.set("X-Request-Id", id_);
    if (ctx_->opt.on_exchange)
      ctx_->opt.on_exchange({method_, path_, id_, res.status, res.detail,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                           started_)
                               .count()});
    if (res.status == 204 || res.status == 304) {
      // These must not have a body, nor (for 204) a Content-Length.
    } else if (head_) {
      out_.content_length(res.body.size()); // what a GET would have sent, no body
    } else {
      out_.body() = std::move(res.body);
      out_.prepare_payload();
    }

    stream_.expires_after(ctx_->opt.body_timeout); // a client that does not read is dropped
    bhttp::async_write(stream_, out_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(error_code ec) {
    if (phase_ == phase::closed)
      return;
    if (ec)
      return close_now();
    if (stopping_)
      return close_now();
    if (!out_.keep_alive())
      return linger();
    wait_request();
  }

  // Half-close, then discard input until the client closes or time runs out.
  void linger() {
    phase_ = phase::lingering;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min(linger_time, ctx_->opt.body_timeout));
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (self->phase_ == phase::closed)
                                return;
                              self->lingered_ += n;
                              if (ec || self->lingered_ > linger_max_bytes)
                                return self->close_now();
                              self->drain();
                            });
  }

  void on_shutdown() {
    stopping_ = true;
    // Reading (idle keep-alive or half-sent request) and lingering end now;
    // handling and writing end in deliver()/on_write().
    if (phase_ == phase::idle || phase_ == phase::reading || phase_ == phase::lingering)
      close_now();
  }

  void close_now() {
    phase_ = phase::closed;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    timer_.cancel();
  }

  stream_type stream_;
  timer_type timer_; // handler timeout
  std::shared_ptr<context> ctx_;
  beast::flat_buffer buffer_; // keeps pipelined bytes between requests
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> out_;
  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;

  phase phase_ = phase::idle;
  std::uint64_t seq_ = 0; // number of the request being handled
  // The request being answered, for on_exchange and X-Request-Id.
  std::string method_, path_, id_;
  std::chrono::steady_clock::time_point started_{};
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool stopping_ = false;
};

} // namespace recd::http::detail
