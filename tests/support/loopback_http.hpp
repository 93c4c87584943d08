#pragma once
// A real HTTP server on 127.0.0.1 for tests of outbound HTTP: it answers
// each request with respond(path), one connection at a time, and keeps
// every request head it received.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace airssys::wasm::test {

// Answers each request on 127.0.0.1 with respond(path), one connection at a
// time, and keeps every request head it received.
class Loopback {
 public:
  explicit Loopback(std::function<std::string(const std::string&)> respond)
      : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0) {
      throw std::runtime_error("cannot listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Loopback() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> heads() {
    std::lock_guard lock(mutex_);
    return heads_;
  }

 private:
  void run() {
    while (!stopping_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string data;
      char chunk[4096];
      while (data.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        data.append(chunk, static_cast<size_t>(n));
      }
      const std::string head = data.substr(0, data.find("\r\n\r\n"));
      {
        std::lock_guard lock(mutex_);
        heads_.push_back(head);
      }
      const size_t at = head.find(' ') + 1;
      const std::string response = respond_(head.substr(at, head.find(' ', at) - at));
      ::send(c, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::function<std::string(const std::string&)> respond_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> heads_;
};

// A whole response that closes the connection.
inline std::string reply(int status, const std::string& extra, const std::string& body = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         extra + "\r\n" + body;
}

}  // namespace airssys::wasm::test
