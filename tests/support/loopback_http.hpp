#pragma once
// Real HTTP servers on 127.0.0.1 for tests of outbound HTTP: Loopback reads
// each whole request (its head and a Content-Length body), answers it with
// respond(...), one connection at a time, and keeps every request it got.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace airssys::wasm::test {

// A listening socket on 127.0.0.1 at a port the kernel chose (`port`).
inline int listen_loopback(uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 8) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

struct HttpRequest {
  std::string method, path, head, body;
};

class Loopback {
 public:
  // Answers with respond(the request's path).
  explicit Loopback(std::function<std::string(const std::string&)> respond)
      : Loopback(std::function<std::string(const HttpRequest&)>(
            [respond = std::move(respond)](const HttpRequest& r) { return respond(r.path); })) {}
  // Answers with respond(the whole request).
  explicit Loopback(std::function<std::string(const HttpRequest&)> respond)
      : respond_(std::move(respond)) {
    fd_ = listen_loopback(port_);
    thread_ = std::thread([this] { run(); });
  }
  ~Loopback() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<HttpRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<std::string> heads() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& r : requests_) out.push_back(r.head);
    return out;
  }

 private:
  void run() {
    while (!stopping_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string data;
      char chunk[4096];
      auto more = [&] {
        ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        data.append(chunk, static_cast<size_t>(n));
        return true;
      };
      while (data.find("\r\n\r\n") == std::string::npos && more()) {
      }
      HttpRequest r;
      const size_t head_end = data.find("\r\n\r\n");
      r.head = data.substr(0, head_end);
      size_t length = 0;
      std::string lower = r.head;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
        length = std::stoul(lower.substr(at + 17));
      }
      if (head_end != std::string::npos) {
        while (data.size() < head_end + 4 + length && more()) {
        }
        r.body = data.substr(head_end + 4);
      }
      r.method = r.head.substr(0, r.head.find(' '));
      const size_t at = r.head.find(' ') + 1;
      r.path = r.head.substr(at, r.head.find(' ', at) - at);
      std::string response = respond_(r);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(r));
      }
      ::send(c, response.data(), response.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  std::function<std::string(const HttpRequest&)> respond_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<HttpRequest> requests_;
};

// A whole response that closes the connection.
inline std::string reply(int status, const std::string& extra, const std::string& body = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         extra + "\r\n" + body;
}

}  // namespace airssys::wasm::test
