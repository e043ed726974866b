// The Beast server behind http_server.hpp. Structure (after Beast's advanced
// async server example, with an io_context per thread as its per-thread
// variants and nginx's workers do):
//   server::impl  owns the io_contexts, one thread each, and the acceptor
//                 (here), which hands new connections to them in turn;
//   session       one per connection, and the context the sessions share
//                 (http_session.hpp).

#include "nodes/http_server.hpp"
#include "nodes/http_session.hpp"

namespace recd::http {

using namespace detail;

// ---------------------------------------------------------------------------
// The server

namespace {
// One io_context per io thread (concurrency hint 1: each is run by one
// thread, though replies are still posted to it from other threads).
std::vector<std::unique_ptr<net::io_context>> make_io_contexts(int threads) {
  std::vector<std::unique_ptr<net::io_context>> out;
  for (int i = 0; i < std::max(1, threads); ++i)
    out.push_back(std::make_unique<net::io_context>(1));
  return out;
}
} // namespace

struct server::impl {
  impl(server_options opt, handler_fn handler)
      : ctx(std::make_shared<context>(std::move(opt), std::move(handler))),
        iocs(make_io_contexts(ctx->opt.threads)), acceptor(iocs.front()->get_executor()),
        retry(iocs.front()->get_executor()) {}

  void do_accept() {
    // A connection lives on one io_context, which one thread runs: its
    // handlers never run concurrently, with no strand; connections go to
    // the io_contexts in turn.
    auto& next = *iocs[accepted++ % iocs.size()];
    acceptor.async_accept(next.get_executor(), [this](error_code ec, socket_type socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open())
        return;
      if (ec) {
        // E.g. out of file descriptors: back off instead of spinning.
        retry.expires_after(std::chrono::milliseconds{50});
        retry.async_wait([this](error_code wec) {
          if (!wec)
            do_accept();
        });
        return;
      }
      error_code ignored;
      socket.set_option(tcp::no_delay{true}, ignored);
      auto s = std::make_shared<session>(std::move(socket), ctx);
      std::shared_ptr<session> victim;
      switch (ctx->registry.admit(s, victim)) {
        case admission::serve: s->start(); break;
        case admission::refuse: s->refuse(); break;
        case admission::drop: break; // the socket closes with `s`
      }
      if (victim)
        victim->evict();
      do_accept();
    });
  }

  std::shared_ptr<context> ctx;
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::vector<net::executor_work_guard<executor_type>> work;
  // The acceptor and its retry timer live on the first io_context.
  net::basic_socket_acceptor<tcp, executor_type> acceptor;
  timer_type retry;
  std::size_t accepted = 0;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  bool started = false;
  bool running = false;
};

server::server(server_options opt, handler_fn handler)
    : impl_(std::make_unique<impl>(std::move(opt), std::move(handler))) {}

server::~server() {
  stop();
}

std::uint16_t server::port() const {
  return impl_->port;
}

std::size_t server::connections() const {
  return impl_->ctx->registry.connections();
}

std::optional<std::string> server::start() {
  auto& m = *impl_;
  if (m.started)
    return "server already started";
  m.started = true;
  const auto& opt = m.ctx->opt;
  const std::string where = opt.host + ":" + std::to_string(opt.port);

  error_code ec;
  tcp::resolver resolver{*m.iocs.front()};
  const auto endpoints =
      resolver.resolve(opt.host, std::to_string(opt.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty())
    return "resolve " + where + ": " + (ec ? ec.message() : std::string{"no address"});
  const tcp::endpoint endpoint = *endpoints.begin();

  auto fail = [&](std::string_view what) {
    error_code ignored;
    m.acceptor.close(ignored);
    return std::string{what} + " " + where + ": " + ec.message();
  };
  if (m.acceptor.open(endpoint.protocol(), ec))
    return fail("open");
  // Lets a restarted recd rebind while old connections sit in TIME_WAIT; on
  // Linux it does not allow two listeners on one port.
  if (m.acceptor.set_option(net::socket_base::reuse_address{true}, ec))
    return fail("setsockopt");
  if (m.acceptor.bind(endpoint, ec))
    return fail("bind");
  if (m.acceptor.listen(net::socket_base::max_listen_connections, ec))
    return fail("listen");
  m.port = m.acceptor.local_endpoint(ec).port();

  for (auto& io : m.iocs)
    m.work.emplace_back(io->get_executor());
  m.do_accept();
  for (auto& ioc : m.iocs) {
    m.threads.emplace_back([&io = *ioc] {
      for (;;) {
        try {
          io.run();
          return;
        } catch (...) {
          // A throwing completion handler must not take the process down;
          // the handler's session is already gone, keep serving the rest.
        }
      }
    });
  }
  m.running = true;
  return std::nullopt;
}

void server::stop() {
  auto& m = *impl_;
  if (m.running) {
    m.running = false;
    net::post(m.acceptor.get_executor(), [&m] {
      error_code ignored;
      m.acceptor.close(ignored);
      m.retry.cancel();
    });
    {
      auto live = m.ctx->registry.begin_stop();
      for (auto& s : live)
        s->request_shutdown();
    } // our references must go before we wait for the sessions to end
    m.ctx->registry.wait_for_sessions(stop_grace);
    m.work.clear();
    for (auto& io : m.iocs)
      io->stop();
    for (auto& t : m.threads)
      t.join();
    m.threads.clear();
  }
  // From here on late replies are dropped instead of posted to an io_context
  // whose remaining handlers (and sessions) die with it.
  std::lock_guard lock{m.ctx->post_mu};
  m.ctx->stopped = true;
}

} // namespace recd::http
