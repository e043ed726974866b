#pragma once
// A CA and one certificate for every node of a deployment, made with the
// openssl command line tool in a fresh folder under /tmp (removed with the
// object), for the suites that run a cluster over TLS. The constructor throws
// std::runtime_error with openssl's output if a step fails.
#include <string>

#include "support/process.hpp"

namespace recd::test {

struct test_pki {
  std::string dir;
  // Subjects /CN=<tag>-ca and /CN=<tag>-node; valid for 2 days.
  explicit test_pki(const std::string& tag);
  ~test_pki();
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;
  // RECD_CLUSTER_TLS_CERTIFICATE, _KEY and _CAFILE for a node of this deployment.
  env_list env() const;
};

} // namespace recd::test
