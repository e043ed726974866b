// The compute kernel of the similarity jobs against the limit of plain
// counting, on the very rows a job reads (exported from PostgreSQL by
// scripts/bench).
//
//   cooccurrence_limit FILE --measure jaccard|cosine --min-common N
//                      [--min-score X] [--top-k K] [--threads 2]
//
// FILE holds one "row<TAB>column" pair per line (item<TAB>user for item
// similarity, user<TAB>item for user similarity); duplicates are allowed.
// Three loops run over all rows of the same CSR graph, and each prints one line
//   <loop> threads=<t> seconds=<best pass> increments=<n> incr_per_s=<rate> pairs=<n>
//  - limit:  a bare single-threaded sparse co-occurrence count (a counter per
//            row, a touched list, a threshold test on reset): the least work an
//            exact kernel that counts every co-occurrence does;
//  - kernel: recd's engine::similarity_kernel with the job's options, one
//            thread, then `--threads` threads (one kernel each, rows interleaved).
// increments = sum over rows r, columns c of r, of |rows of c| (= sum over
// columns of degree^2), skipping rows whose degree is below min_common (no
// pair of theirs can pass, and recd's kernel skips them, so the limit does
// too): the inner-loop trip count of the limit and, as the same nominal
// count, the rate of the kernel, which since 2026-11-27 skips most of it
// (prefix filtering, engine/similarity.hpp), so its rate can pass the limit's. The loops' passes are interleaved and repeat (at least 3 rounds
// and 1 s, at most 10 s in all); each loop's best pass counts (the machine is
// shared). Exit status 2 on bad arguments.

#include "engine/bipartite.hpp"
#include "engine/similarity.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using recd::engine::bipartite;
using clock_type = std::chrono::steady_clock;

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "cooccurrence_limit: %s\nusage: cooccurrence_limit FILE --measure jaccard|cosine "
               "--min-common N [--min-score X] [--top-k K] [--threads T]\n",
               why.c_str());
  std::exit(2);
}

std::int64_t to_int(std::string_view s, const char* what) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size())
    usage(std::string{what} + ": '" + std::string{s} + "' is not an integer");
  return v;
}

bipartite read_pairs(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    usage("cannot open " + path);
  std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty())
      continue;
    auto tab = line.find('\t');
    if (tab == std::string::npos)
      usage(path + " line " + std::to_string(n) + ": expected row<TAB>column");
    auto a = to_int(std::string_view{line}.substr(0, tab), "row");
    auto b = to_int(std::string_view{line}.substr(tab + 1), "column");
    pairs.emplace_back(static_cast<std::int32_t>(a), static_cast<std::int32_t>(b));
  }
  return recd::engine::bipartite_from_pairs(std::move(pairs));
}

// Best wall time of one pass of each loop, the loops' passes interleaved
// (limit, kernel, kernel on t threads, limit, ...) so that a change in the
// machine's load hits them alike. At least 3 rounds and 1 s, at most 10 s.
struct pass_result {
  double best = 1e300;
  std::uint64_t pairs = 0;
};
std::vector<pass_result> best_passes(const std::vector<std::function<std::uint64_t()>>& loops) {
  std::vector<pass_result> out(loops.size());
  double total = 0;
  for (int i = 0; i < 1000 && (i < 3 || total < 1.0) && total < 10.0; ++i)
    for (std::size_t k = 0; k < loops.size(); ++k) {
      auto t0 = clock_type::now();
      out[k].pairs = loops[k]();
      double s = std::chrono::duration<double>(clock_type::now() - t0).count();
      out[k].best = std::min(out[k].best, s);
      total += s;
    }
  return out;
}

void print(const char* loop, int threads, double seconds, std::uint64_t increments,
           std::uint64_t pairs) {
  std::printf("%s threads=%d seconds=%.6f increments=%llu incr_per_s=%.4g pairs=%llu\n", loop,
              threads, seconds, static_cast<unsigned long long>(increments),
              seconds > 0 ? double(increments) / seconds : 0.0,
              static_cast<unsigned long long>(pairs));
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage("no input file");
  std::string path = argv[1];
  recd::engine::similarity_options opt;
  bool measure_given = false;
  int threads = 2;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc)
      usage("missing value after " + std::string{a});
    std::string_view v = argv[++i];
    if (a == "--measure") {
      if (v != "jaccard" && v != "cosine")
        usage("--measure must be jaccard or cosine");
      opt.measure = v == "jaccard" ? recd::engine::set_measure::jaccard
                                   : recd::engine::set_measure::cosine;
      measure_given = true;
    } else if (a == "--min-common") {
      opt.min_common = static_cast<std::int32_t>(to_int(v, "--min-common"));
    } else if (a == "--min-score") {
      opt.min_score = std::strtod(std::string{v}.c_str(), nullptr);
    } else if (a == "--top-k") {
      opt.top_k = static_cast<std::int32_t>(to_int(v, "--top-k"));
    } else if (a == "--threads") {
      threads = static_cast<int>(to_int(v, "--threads"));
      if (threads < 1)
        usage("--threads must be at least 1");
    } else {
      usage("unknown option " + std::string{a});
    }
  }
  if (!measure_given)
    usage("--measure is required");

  const bipartite g = read_pairs(path);
  const bipartite gt = recd::engine::transpose(g);
  const auto min_common = static_cast<std::uint32_t>(std::max(opt.min_common, 1));
  std::uint64_t increments = 0, all_increments = 0;
  for (std::size_t r = 0; r < g.rows(); ++r) {
    std::uint64_t w = 0;
    for (auto c : g.row(r))
      w += gt.degree(c);
    all_increments += w;
    if (g.degree(r) >= min_common)
      increments += w;
  }
  std::printf("graph rows=%zu columns=%zu nnz=%zu increments_all_rows=%llu\n", g.rows(),
              g.columns(), g.nnz(), static_cast<unsigned long long>(all_increments));

  // The limit: count (the touched list appended branch-free: store always,
  // advance on a first touch), then test and reset only what was touched.
  // Raw pointers throughout, the scratch allocated once.
  std::vector<std::uint32_t> count(g.rows(), 0);
  std::vector<std::uint32_t> touched(g.rows() + 1, 0);
  auto limit = [&]() -> std::uint64_t {
    std::uint32_t* const cnt = count.data();
    std::uint32_t* const tch = touched.data();
    const std::uint64_t* const g_off = g.offsets.data();
    const std::uint32_t* const g_col = g.cols.data();
    const std::uint64_t* const t_off = gt.offsets.data();
    const std::uint32_t* const t_col = gt.cols.data();
    const std::size_t rows = g.rows();
    std::uint64_t pairs = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      if (g_off[r + 1] - g_off[r] < min_common)
        continue;
      std::size_t n = 0;
      for (std::uint64_t i = g_off[r]; i < g_off[r + 1]; ++i) {
        const std::uint32_t c = g_col[i];
        for (std::uint64_t j = t_off[c]; j < t_off[c + 1]; ++j) {
          const std::uint32_t b = t_col[j];
          tch[n] = b;
          n += (cnt[b]++ == 0);
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        const auto b = tch[i];
        pairs += (cnt[b] >= min_common) & (b != r);
        cnt[b] = 0;
      }
    }
    return pairs;
  };

  // recd's kernel on rows r % t == k of thread k.
  auto kernel = [&](int t) {
    return [&, t]() -> std::uint64_t {
      std::vector<std::uint64_t> found(static_cast<std::size_t>(t), 0);
      auto run = [&](int k) {
        recd::engine::similarity_kernel kern{g, gt, opt};
        std::vector<recd::engine::neighbour> out;
        for (std::size_t r = static_cast<std::size_t>(k); r < g.rows();
             r += static_cast<std::size_t>(t)) {
          kern.neighbours(r, out);
          found[static_cast<std::size_t>(k)] += out.size();
        }
      };
      std::vector<std::thread> pool;
      for (int k = 1; k < t; ++k)
        pool.emplace_back(run, k);
      run(0);
      for (auto& th : pool)
        th.join();
      std::uint64_t sum = 0;
      for (auto x : found)
        sum += x;
      return sum;
    };
  };
  std::vector<std::function<std::uint64_t()>> loops{limit, kernel(1)};
  if (threads > 1)
    loops.push_back(kernel(threads));
  auto res = best_passes(loops);
  print("limit", 1, res[0].best, increments, res[0].pairs);
  print("kernel", 1, res[1].best, increments, res[1].pairs);
  if (threads > 1)
    print("kernel", threads, res[2].best, increments, res[2].pairs);
  return 0;
}
