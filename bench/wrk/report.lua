-- Shared by the bench/wrk scripts: one machine-readable line at the end,
--   BENCH RPS=.. P50=.. P99=.. P999=.. (ms) ERRORS=.. REQUESTS=..
-- ERRORS counts non-2xx answers, timeouts and socket errors together.
function report(summary, latency)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format("BENCH RPS=%.1f P50=%.3f P99=%.3f P999=%.3f ERRORS=%d REQUESTS=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, errors, summary.requests))
end
