#pragma once
// Real servers for tests, run in the background: a free loopback port, a process started by a
// shell line (its output in a log file in the test dir) and killed on destruction, and a wait
// until a TCP port accepts connections.

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "tests/support/test_support.hh"

namespace akbuild::test {

// A loopback TCP port nothing listens on right now.
inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(s);
  return ntohs(addr.sin_port);
}

// Whether something accepts connections on 127.0.0.1:`port`.
inline bool port_open(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(s);
  return ok;
}

// A background process started by `command` (a shell line; `exec` it so the pid is the
// server's), its output in dir/<name>.log; SIGTERM on destruction, waiting until it is gone.
class BackgroundProcess {
public:
  BackgroundProcess(const TestDir& dir, const std::string& command, const std::string& name) {
    auto r = sh(command + " > '" + (dir / (name + ".log")).string() + "' 2>&1 & echo $!");
    REQUIRE(r.exit_code == 0);
    m_pid = std::stoi(r.out);
  }
  ~BackgroundProcess() { stop(); }
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  void stop() {
    if (m_pid <= 0) return;
    ::kill(m_pid, SIGTERM);
    sh("while kill -0 " + std::to_string(m_pid) + " 2>/dev/null; do sleep 0.05; done");
    m_pid = 0;
  }
  // Waits (up to 20 s) until 127.0.0.1:`port` accepts connections.
  static void wait_for_port(int port) {
    for (int i = 0; i < 400; ++i) {
      if (port_open(port)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("nothing listens on 127.0.0.1:" << port);
  }

private:
  int m_pid = 0;
};

} // namespace akbuild::test
