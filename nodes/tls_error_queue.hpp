#pragma once
// OpenSSL's per-thread error queue, kept empty before every TLS call of the
// middleman (nodes/tls_error_queue.cpp says why).

namespace recd {

// True if this executable's SSL_read, SSL_write, SSL_accept and SSL_connect
// (which empty the calling thread's error queue, then call libssl's) are the
// ones CAF's openssl module calls. A build where they are not would let any
// refused TLS peer cut every trusted connection of the node.
bool tls_error_queue_guarded();

} // namespace recd
