// CAF 0.17.6's openssl module (caf::openssl::session) leaves OpenSSL's error
// queue filled after a connection fails: it drains the queue only inside its
// log statements, which Debian's build compiles out. The queue belongs to the
// thread, and every TLS connection of a node runs on the middleman's one
// thread. OpenSSL's SSL_get_error looks at that queue first, so after one
// failed connection (a plain-TCP client, a peer of another CA, a peer that
// hangs up mid-handshake) the next "would block" of every other connection
// reads as a fatal error and CAF closes it: one refused stranger cut every
// link of the coordinator (tests/cluster_trust_test.cpp,
// Tls.ARefusedConnectionLeavesTheTrustedOnesUp).
//
// OpenSSL requires the queue to be empty before each I/O call (SSL_get_error(3)),
// which is what the definitions below do on CAF's behalf. Defined in the
// executable, they take the place of libssl's for every library of the process
// (the dynamic linker looks in the executable first); each empties the queue
// and calls libssl's own function (dlsym(RTLD_NEXT)). libpq, the only other
// TLS user in a node, empties the queue before its calls already.

#include "nodes/tls_error_queue.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class Fn>
Fn libssl_function(const char* name) {
  auto* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    std::fprintf(stderr, "recd: libssl has no %s\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto next = libssl_function<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto next = libssl_function<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto next = libssl_function<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return next(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto next = libssl_function<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

} // extern "C"

namespace recd {

bool tls_error_queue_guarded() {
  return dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read) &&
         dlsym(RTLD_DEFAULT, "SSL_write") == reinterpret_cast<void*>(&SSL_write) &&
         dlsym(RTLD_DEFAULT, "SSL_accept") == reinterpret_cast<void*>(&SSL_accept) &&
         dlsym(RTLD_DEFAULT, "SSL_connect") == reinterpret_cast<void*>(&SSL_connect);
}

} // namespace recd
