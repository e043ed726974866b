#include "support/recd_cli.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>

#include "support/e2e_text.hpp"

namespace recd::test {

using namespace std::chrono_literals;

int exit_code(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

std::string show(const cli_result& r) {
  return "command: recd" + r.cmd + "\nexit status: " + std::to_string(r.status) +
         "\noutput:\n" + tail(r.output);
}

cli_run::cli_run(const std::vector<std::string>& args, const env_list& env)
  : log_(temp_path("cli.log")) {
  std::vector<std::string> argv{recd_binary()};
  for (const auto& a : args) {
    argv.push_back(a);
    cmd_ += " " + a;
  }
  proc_ = std::make_unique<child_process>(argv, env, log_);
}

cli_run::~cli_run() {
  proc_.reset();
  std::remove(log_.c_str());
}

cli_result cli_run::finish(std::chrono::milliseconds timeout) {
  cli_result r;
  r.cmd = cmd_;
  auto st = proc_->wait_for(timeout);
  if (!st) {
    proc_->signal(SIGKILL);
    proc_->wait_for(10s);
    r.output = "(killed: still running after " + fmt(double(timeout.count()) / 1000, 0) + " s)\n";
  } else {
    r.status = exit_code(*st);
  }
  r.output += slurp(log_);
  return r;
}

cli_result run_cli(const std::vector<std::string>& args, const env_list& env,
                   std::chrono::milliseconds timeout) {
  cli_run run{args, env};
  return run.finish(timeout);
}

} // namespace recd::test
