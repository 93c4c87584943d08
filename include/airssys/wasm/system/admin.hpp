#pragma once
// The admin endpoint of a running host: a Unix socket (mode 0600, in a folder
// only its owner may write) that accepts connections from the host's own user
// only, checked again with SO_PEERCRED. The protocol is one JSON object per
// line each way: a request {"command": "start", "name": "greeter"} and its
// response {"ok": true, "result": ...} or {"ok": false, "error": {"code":
// "NotFound", "category": "usage", "message": "..."}}. docs/commands.md lists
// the commands.
//
// Example:
//   auto server = AdminServer::start(*host, host->config().admin_socket);
//   auto client = AdminClient::connect(host->config().admin_socket);
//   auto reply = client->call({{"command", "list"}});

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/system/host.hpp"

namespace airssys::wasm::system {

inline constexpr size_t kMaxAdminLine = 1024 * 1024;
// `request`: how long the reply is waited for unless the request says
// ("timeout_ms"), and the most it may say.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{30'000};
inline constexpr std::chrono::milliseconds kMaxRequestTimeout{600'000};
// `logs`: the most a request may wait for a first line ("wait_ms").
inline constexpr std::chrono::milliseconds kMaxLogWait{30'000};

struct AdminOptions {
  size_t max_connections = 16;  // more are refused with an error line
  // A connection with no request for this long is closed (with an error
  // line), so idle clients cannot hold the slots.
  std::chrono::milliseconds idle_timeout{60'000};
};

// Answers one request (for the server, and for tests of the protocol).
[[nodiscard]] nlohmann::json handle_admin_request(Host& host, const nlohmann::json& request,
                                                  std::string_view operator_name);
// The JSON form of what the registry records and of `info`.
[[nodiscard]] nlohmann::json to_json(const InstalledComponent& component);
[[nodiscard]] nlohmann::json to_json(const ComponentReport& report);
[[nodiscard]] nlohmann::json to_json(const ReloadReport& report);
[[nodiscard]] nlohmann::json error_json(const Error& error);
// A running component's state, counters and quota usage (used, limit,
// available, percent, level and unit of each quota), as `status` reports it.
[[nodiscard]] nlohmann::json status_json(std::string_view name,
                                         const component::ComponentStatus& status);

class AdminServer {
 public:
  // Binds the socket (a stale one left by a dead host is replaced; a live one
  // is InvalidTransition) and serves on its own threads.
  [[nodiscard]] static Result<std::unique_ptr<AdminServer>> start(
      Host& host, const std::filesystem::path& socket, AdminOptions options = {});
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Stops accepting, ends every connection, removes the socket file. A
  // connection inside a `request` or a `logs` wait ends when that wait does:
  // when the host stops too, call Host::end_waits() first.
  void stop();
  [[nodiscard]] const std::filesystem::path& path() const;
  // Connections refused because the peer was another user.
  [[nodiscard]] uint64_t refused_peers() const;

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class AdminClient {
 public:
  // NotFound when no socket exists; Unavailable-style IoError when nothing
  // listens on it (ECONNREFUSED): the caller may then work offline.
  [[nodiscard]] static Result<AdminClient> connect(const std::filesystem::path& socket);
  AdminClient(AdminClient&& other) noexcept;
  AdminClient& operator=(AdminClient&& other) noexcept;
  ~AdminClient();

  // Sends one request and waits for its response line.
  [[nodiscard]] Result<nlohmann::json> call(const nlohmann::json& request);

 private:
  explicit AdminClient(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace airssys::wasm::system
