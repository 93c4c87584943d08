#pragma once
// A real nats-server (Debian's, with JetStream) for the lattice tests: on a
// free loopback port, its store in a folder of its own, stopped and started
// again on demand, killed when the test ends.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"

namespace airssys::wasm::testing {

class NatsServer {
 public:
  static constexpr const char* kBinary = "/usr/sbin/nats-server";  // Debian's

  // Extra command-line arguments (a configuration file, say) come after the
  // port and store; the server is up when the constructor returns, or
  // running() is false.
  explicit NatsServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    // A port found free may be taken before the server binds it: another.
    for (int attempt = 0; attempt < 5 && !running(); ++attempt) {
      port_ = free_port();
      start();
    }
  }
  ~NatsServer() { stop(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  [[nodiscard]] std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] std::filesystem::path log() const { return dir_.path() / "server.log"; }

  // Until the port takes connections (the deadline only bounds a hang).
  void start() {
    std::vector<std::string> argv = {kBinary, "-a", "127.0.0.1", "-p", std::to_string(port_),
                                     "-js", "-sd", (dir_.path() / "store").string(),
                                     "-l", log().string()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      if (accepts()) return;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // it ended: the port, say, was taken
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
  }

  // SIGTERM, then waits; SIGKILL past 10 s.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      const pid_t done = ::waitpid(pid_, nullptr, WNOHANG);
      if (done == pid_ || done < 0) break;
      if (std::chrono::steady_clock::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
  }

 private:
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  bool accepts() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  airssys::wasm::test::TempDir dir_{"nats"};
  std::vector<std::string> extra_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace airssys::wasm::testing
