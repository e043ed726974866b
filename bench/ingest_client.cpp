// Ingestion load: durable behavior events per second through POST
// /api/behavior (one event per request) and POST /api/behaviors (batches, as
// JSON or as msgpack encoded with msgpack-c), one mode after another against
// the same server, each for a fixed time. Every counted event was answered
// 200, i.e. committed (recd acknowledges after COMMIT). Run by bench/ingest.sh.
//
//   ingest_client HOST:PORT --users U --items I [--seconds S] [--connections C]
//                 [--modes single,json:1000,msgpack:1000,...]
//
// One line per mode: mode=... batch=... connections=... events=... seconds=...
// events_per_s=... requests=... errors=... p50_ms=... p99_ms=... (request
// latency). Events are random (user, item, kind) with no event id, so every
// event is a new row, except in mode msgpack_ids: msgpack batches whose every
// event carries an event id never sent before (the server's idempotent path,
// one INSERT ... ON CONFLICT statement instead of COPY). Plain main, no recd
// library: the client is what a shop would write.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <msgpack.hpp>

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

struct mode {
  std::string format; // single | json | msgpack
  int batch = 1;
};

struct options {
  std::string host = "127.0.0.1";
  std::string port;
  int users = 1000;
  int items = 100;
  double seconds = 10;
  int connections = 4;
  std::vector<mode> modes;
};

const char* kinds[] = {"view", "click", "cart", "buy"};

struct generator {
  std::mt19937_64 rng;
  int users, items;
  std::string id_prefix; // msgpack_ids: unique per run and connection
  std::uint64_t sent = 0;
  std::string next_id() { return id_prefix + std::to_string(++sent); }
  struct event {
    int user, item;
    const char* kind;
  };
  event next() {
    return {static_cast<int>(rng() % static_cast<unsigned>(users)) + 1,
            static_cast<int>(rng() % static_cast<unsigned>(items)) + 1, kinds[rng() % 10 < 7 ? 0 : rng() % 4]};
  }
};

std::string json_event(const generator::event& e) {
  return R"({"user_id":)" + std::to_string(e.user) + R"(,"item_id":)" + std::to_string(e.item) +
         R"(,"behavior_type":")" + e.kind + "\"}";
}

// The body of one request and its Content-Type.
std::pair<std::string, const char*> make_body(const mode& m, generator& g) {
  if (m.format == "single")
    return {json_event(g.next()), "application/json"};
  if (m.format == "json") {
    std::string body = "[";
    for (int k = 0; k < m.batch; ++k) {
      if (k)
        body += ',';
      body += json_event(g.next());
    }
    body += ']';
    return {body, "application/json"};
  }
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> pk(&out);
  pk.pack_array(static_cast<std::uint32_t>(m.batch));
  for (int k = 0; k < m.batch; ++k) {
    auto e = g.next();
    const bool with_id = m.format == "msgpack_ids";
    pk.pack_map(with_id ? 4 : 3);
    pk.pack(std::string_view{"user_id"});
    pk.pack(e.user);
    pk.pack(std::string_view{"item_id"});
    pk.pack(e.item);
    pk.pack(std::string_view{"behavior_type"});
    pk.pack(std::string_view{e.kind});
    if (with_id) {
      pk.pack(std::string_view{"event_id"});
      pk.pack(g.next_id());
    }
  }
  return {std::string{out.data(), out.size()}, "application/x-msgpack"};
}

struct totals {
  std::atomic<std::uint64_t> events{0}, requests{0}, errors{0};
};

void worker(const options& opt, const mode& m, steady::time_point until, unsigned seed, totals& t,
            std::vector<double>& latencies) {
  generator g{std::mt19937_64{seed}, opt.users, opt.items,
              "bench-" +
                std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) +
                "-" + std::to_string(seed) + "-"};
  net::io_context io;
  tcp::resolver resolver{io};
  auto endpoints = resolver.resolve(opt.host, opt.port);
  beast::tcp_stream stream{io};
  bool connected = false;
  const std::string target = m.format == "single" ? "/api/behavior" : "/api/behaviors";
  beast::flat_buffer buffer;
  while (steady::now() < until) {
    auto [body, type] = make_body(m, g); // encoding is part of the client's cost
    try {
      if (!connected) {
        stream.connect(endpoints);
        connected = true;
      }
      bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
      req.set(bhttp::field::host, opt.host);
      req.set(bhttp::field::content_type, type);
      req.keep_alive(true);
      req.body() = std::move(body);
      req.prepare_payload();
      auto t0 = steady::now();
      bhttp::write(stream, req);
      bhttp::response<bhttp::string_body> res;
      bhttp::read(stream, buffer, res);
      latencies.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
      t.requests++;
      if (res.result_int() == 200)
        t.events += static_cast<std::uint64_t>(m.batch);
      else
        t.errors++;
      if (!res.keep_alive()) {
        beast::error_code ec;
        stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream.close();
        connected = false;
      }
    } catch (const std::exception&) {
      t.errors++;
      beast::error_code ec;
      stream.close();
      connected = false;
    }
  }
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty())
    return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void run(const options& opt, const mode& m) {
  totals t;
  const int conns = m.format == "single" ? opt.connections * 4 : opt.connections;
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(conns));
  auto t0 = steady::now();
  auto until = t0 + std::chrono::duration_cast<steady::duration>(
                      std::chrono::duration<double>(opt.seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c)
    threads.emplace_back(worker, std::cref(opt), std::cref(m), until, 1000u + static_cast<unsigned>(c),
                         std::ref(t), std::ref(lat[static_cast<std::size_t>(c)]));
  for (auto& th : threads)
    th.join();
  double secs = std::chrono::duration<double>(steady::now() - t0).count();
  std::vector<double> all;
  for (auto& l : lat)
    all.insert(all.end(), l.begin(), l.end());
  auto p50 = percentile(all, 0.5), p99 = percentile(all, 0.99);
  std::printf("mode=%s batch=%d connections=%d events=%llu seconds=%.2f events_per_s=%.0f "
              "requests=%llu errors=%llu p50_ms=%.2f p99_ms=%.2f\n",
              m.format.c_str(), m.batch, conns, static_cast<unsigned long long>(t.events.load()),
              secs, static_cast<double>(t.events.load()) / secs,
              static_cast<unsigned long long>(t.requests.load()),
              static_cast<unsigned long long>(t.errors.load()), p50, p99);
  std::fflush(stdout);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: ingest_client HOST:PORT --users U --items I [--seconds S] "
                       "[--connections C] "
                       "[--modes single,json:1000,msgpack:1000,msgpack_ids:1000]\n");
  std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage();
  options opt;
  std::string addr = argv[1];
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    usage();
  opt.host = addr.substr(0, colon);
  opt.port = addr.substr(colon + 1);
  std::string modes = "single,json:100,json:1000,msgpack:100,msgpack:1000";
  for (int k = 2; k < argc; ++k) {
    std::string a = argv[k];
    if (k + 1 >= argc)
      usage();
    std::string v = argv[++k];
    if (a == "--users") opt.users = std::stoi(v);
    else if (a == "--items") opt.items = std::stoi(v);
    else if (a == "--seconds") opt.seconds = std::stod(v);
    else if (a == "--connections") opt.connections = std::stoi(v);
    else if (a == "--modes") modes = v;
    else usage();
  }
  if (opt.users < 1 || opt.items < 1 || opt.seconds <= 0 || opt.connections < 1)
    usage();
  std::size_t from = 0;
  while (from <= modes.size()) {
    auto comma = modes.find(',', from);
    auto word = modes.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    mode m;
    auto c = word.find(':');
    m.format = word.substr(0, c);
    if (c != std::string::npos)
      m.batch = std::stoi(word.substr(c + 1));
    if ((m.format != "single" && m.format != "json" && m.format != "msgpack" &&
         m.format != "msgpack_ids") ||
        m.batch < 1 ||
        (m.format == "single" && m.batch != 1))
      usage();
    opt.modes.push_back(m);
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }
  for (const auto& m : opt.modes)
    run(opt, m);
}
