#pragma once
// The `recd` command line as the cluster suites run it: $RECD_BINARY with
// arguments and extra environment (secrets go in the environment, never in
// argv), stdout and stderr captured to a scratch file that is removed with
// the run. Every run has a timeout: a command still running then is killed
// and reported with status -1.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace recd::test {

// Exit code of a wait status; 128 + signal if killed.
int exit_code(int status);

struct cli_result {
  int status = -1; // exit code, 128 + signal if killed, -1 if it timed out
  std::string output;
  std::string cmd;
};

// The command, its exit status and the tail of its output, for a failure message.
std::string show(const cli_result& r);

// A `recd` command running in the background (stdout + stderr to a file).
class cli_run {
public:
  cli_run(const std::vector<std::string>& args, const env_list& env);
  ~cli_run();
  cli_run(const cli_run&) = delete;
  cli_run& operator=(const cli_run&) = delete;

  child_process& process() { return *proc_; }
  // Waits for the exit (SIGKILL after `timeout`).
  cli_result finish(std::chrono::milliseconds timeout);

private:
  std::string log_;
  std::string cmd_;
  std::unique_ptr<child_process> proc_;
};

// Runs one command to its end (see cli_run::finish).
cli_result run_cli(const std::vector<std::string>& args, const env_list& env,
                   std::chrono::milliseconds timeout = std::chrono::seconds{120});

} // namespace recd::test
