#pragma once
// Client sockets for the tests that probe or flood a listener (the API socket, /metrics), and the
// resident memory of a process the test started.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace netagent::testing {

// A TCP connection to ipv4:port from the calling thread's network namespace, with a receive
// timeout; -1 when it cannot connect. The caller closes it.
int tcp_connect(const std::string& ipv4, uint16_t port, std::chrono::milliseconds rcv_timeout);
// The same to a unix socket.
int unix_connect(const std::string& path, std::chrono::milliseconds rcv_timeout);
// True when the peer has closed `fd` (EOF or reset): waiting up to the socket's receive timeout,
// or only looking at what has arrived when `wait` is false. Data read meanwhile is dropped.
bool closed_by_peer(int fd, bool wait = true);

// VmRSS of process `pid` in KiB; -1 when it cannot be read.
long rss_kib(pid_t pid);

}  // namespace netagent::testing
