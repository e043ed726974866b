#include "support/test_pki.hpp"

#include <stdlib.h>

#include <cstdlib>
#include <stdexcept>

#include "support/e2e_text.hpp"

namespace recd::test {

test_pki::test_pki(const std::string& tag) {
  char templ[] = "/tmp/recd_tls_XXXXXX";
  dir = ::mkdtemp(templ);
  auto run = [&](const std::string& cmd) {
    auto full = "cd " + dir + " && " + cmd + " >>openssl.log 2>&1";
    if (std::system(full.c_str()) != 0)
      throw std::runtime_error("openssl failed: " + cmd + "\n" + slurp(dir + "/openssl.log"));
  };
  run("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=" +
      tag + "-ca");
  run("openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj /CN=" + tag +
      "-node");
  run("openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 2");
}

test_pki::~test_pki() { std::system(("rm -rf " + dir).c_str()); }

env_list test_pki::env() const {
  return {{"RECD_CLUSTER_TLS_CERTIFICATE", dir + "/node.pem"},
          {"RECD_CLUSTER_TLS_KEY", dir + "/node.key"},
          {"RECD_CLUSTER_TLS_CAFILE", dir + "/ca.pem"}};
}

} // namespace recd::test
