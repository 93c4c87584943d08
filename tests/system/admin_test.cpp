// The admin endpoint: a real Unix socket served by a real host; requests,
// bad requests, and connections from another user (the socket's file mode
// first, then the SO_PEERCRED check behind it).

#include "airssys/wasm/system/admin.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "system_test_support.hpp"

namespace airssys::wasm::system {
namespace {

using namespace test;
using nlohmann::json;

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = root_.path() / "data";
    fs::create_directories(data_);
    fs::permissions(data_, fs::perms::owner_all, fs::perm_options::replace);
    keys_ = trusted_keys(data_);
    auto host = HostBuilder()
                    .data_dir(data_)
                    .workers(2)
                    .state_durability(storage::Durability::Normal)
                    .on_log(lines_.sink())
                    .on_audit([this](const security::AuditRecord& r, std::string_view) {
                      std::lock_guard lock(mutex_);
                      if (r.permission == "admin.connect") admin_denials_.push_back(r.reason);
                    })
                    .build();
    ASSERT_TRUE(host) << host.error().to_string();
    host_ = std::move(*host);
    socket_ = data_ / "admin.sock";
    auto server = AdminServer::start(*host_, socket_);
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
  }

  json call(const json& request) {
    auto client = AdminClient::connect(socket_);
    if (!client) {
      ADD_FAILURE() << client.error().to_string();
      return {};
    }
    auto reply = client->call(request);
    if (!reply) {
      ADD_FAILURE() << reply.error().to_string();
      return {};
    }
    return *reply;
  }

  // Raw bytes on a fresh connection; returns the first response line.
  std::string raw(std::string_view bytes) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socket_.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    std::string out;
    char c;
    while (::recv(fd, &c, 1, 0) == 1 && c != '\n') out += c;
    ::close(fd);
    return out;
  }

  // A raw connection, nothing sent.
  int open_raw() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socket_.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  // Reads one line from `fd` (without its newline); nullopt at EOF or when
  // nothing came for 30 s.
  static std::optional<std::string> read_line(int fd) {
    std::string out;
    for (;;) {
      pollfd readable{fd, POLLIN, 0};
      if (::poll(&readable, 1, 30'000) <= 0) return std::nullopt;
      char c;
      if (::recv(fd, &c, 1, 0) != 1) return std::nullopt;
      if (c == '\n') return out;
      out += c;
    }
  }

  // True when the peer has closed `fd` (EOF or reset) within 30 s.
  static bool closed_by_peer(int fd) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, 30'000) <= 0) return false;
    char c;
    return ::recv(fd, &c, 1, 0) <= 0;
  }

  void restart_server(AdminOptions options) {
    server_.reset();
    auto server = AdminServer::start(*host_, socket_, options);
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
  }

  size_t denials() {
    host_->audit().flush();
    std::lock_guard lock(mutex_);
    return admin_denials_.size();
  }

  TempDir root_;
  fs::path data_;
  fs::path socket_;
  security::KeyPair keys_;
  Lines lines_;
  std::mutex mutex_;
  std::vector<std::string> admin_denials_;
  std::unique_ptr<Host> host_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminTest, SocketIsPrivateToItsOwner) {
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  // A second server on the same socket is refused while the first listens.
  auto second = AdminServer::start(*host_, socket_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::InvalidTransition);
}

TEST_F(AdminTest, RefusesAFolderOthersMayWrite) {
  auto open_dir = root_.path() / "open";
  fs::create_directories(open_dir);
  fs::permissions(open_dir, fs::perms::all, fs::perm_options::replace);
  auto refused = AdminServer::start(*host_, open_dir / "admin.sock");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::InvalidConfig);
  EXPECT_FALSE(fs::exists(open_dir / "admin.sock"));
}

TEST_F(AdminTest, LifecycleThroughTheSocket) {
  auto dir = make_component(root_.path() / "c1", kComponents / "counter.wasm",
                            counter_manifest("counter", "1.0.0"), &keys_);
  auto installed = call({{"command", "install"}, {"dir", dir.string()}});
  ASSERT_TRUE(installed["ok"]) << installed.dump();
  EXPECT_EQ(installed["result"]["version"], "1.0.0");
  EXPECT_EQ(installed["result"]["trust"], "trusted");
  ASSERT_TRUE(call({{"command", "start"}, {"name", "counter"}})["ok"]);
  auto client = AdminClient::connect(socket_);
  ASSERT_TRUE(client);
  for (int i = 0; i < 20; ++i) {  // one connection, many requests
    auto sent = client->call({{"command", "send"}, {"name", "counter"}, {"text", "tick"}});
    ASSERT_TRUE(sent && (*sent)["ok"]) << (sent ? sent->dump() : sent.error().message);
  }
  EXPECT_TRUE(lines_.wait_line("counter: counter tick = 20"));
  json info;
  for (int i = 0; i < 1000; ++i) {  // the count follows the handler's return
    info = call({{"command", "info"}, {"name", "counter"}});
    if (info["result"]["messages_handled"] == 20) break;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(info["ok"]) << info.dump();
  EXPECT_EQ(info["result"]["approval"], "auto-approved");
  EXPECT_EQ(info["result"]["running"], true);
  EXPECT_EQ(info["result"]["messages_handled"], 20);
  EXPECT_EQ(info["result"]["quotas"]["storage"]["used"], 15);
  auto list = call({{"command", "list"}});
  ASSERT_TRUE(list["ok"]);
  ASSERT_EQ(list["result"].size(), 1u);
  EXPECT_EQ(list["result"][0]["status"], "running");
  auto metrics = call({{"command", "metrics"}});
  ASSERT_TRUE(metrics["ok"]);
  EXPECT_NE(metrics["result"].get<std::string>().find(
                "airssys_messages_handled_total{component=\"counter\"} 20\n"),
            std::string::npos);
  ASSERT_TRUE(call({{"command", "stop"}, {"name", "counter"}})["ok"]);
  auto gone = call({{"command", "uninstall"}, {"name", "counter"}, {"remove_state", true}});
  ASSERT_TRUE(gone["ok"]) << gone.dump();
  auto none = call({{"command", "info"}, {"name", "counter"}});
  EXPECT_FALSE(none["ok"]);
  EXPECT_EQ(none["error"]["code"], "NotFound");
}

TEST_F(AdminTest, BadRequestsGetTypedErrors) {
  auto code = [&](std::string_view line) {
    auto reply = json::parse(raw(line), nullptr, false);
    if (reply.is_discarded() || reply["ok"] != false) return std::string("not an error");
    return reply["error"]["code"].get<std::string>();
  };
  EXPECT_EQ(code("{not json\n"), "InvalidArgument");
  EXPECT_EQ(code("[1,2]\n"), "InvalidArgument");
  EXPECT_EQ(code("{\"command\": 7}\n"), "InvalidArgument");
  EXPECT_EQ(code("{\"command\": \"format-disk\", \"name\": \"x\"}\n"), "InvalidArgument");
  EXPECT_EQ(code("{\"command\": \"start\"}\n"), "InvalidArgument");
  EXPECT_EQ(code("{\"command\": \"start\", \"name\": \"\"}\n"), "InvalidArgument");
  EXPECT_EQ(code("{\"command\": \"install\", \"dir\": \"/nonexistent\"}\n"), "IoError");
  EXPECT_EQ(code("{\"command\": \"install\", \"dir\": \"relative/dir\"}\n"), "InvalidArgument");
  EXPECT_EQ(code("{\"command\": \"send\", \"name\": \"nobody\", \"text\": \"x\"}\n"),
            "ActorNotFound");
  // A line longer than the limit ends the connection with an error.
  std::string huge(kMaxAdminLine + 10, 'x');
  EXPECT_EQ(code(huge), "InvalidArgument");
  // The server still answers afterwards.
  EXPECT_TRUE(call({{"command", "ping"}})["ok"]);
}

// A request line past the limit gets its error, then the connection is
// closed: the client is not left waiting on an open socket.
TEST_F(AdminTest, AnOverlongRequestIsAnsweredAndTheConnectionClosed) {
  int fd = open_raw();
  std::string huge(kMaxAdminLine + 10, 'x');
  size_t off = 0;
  while (off < huge.size()) {
    ssize_t n = ::send(fd, huge.data() + off, huge.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  auto line = read_line(fd);
  ASSERT_TRUE(line);
  auto reply = json::parse(*line, nullptr, false);
  ASSERT_FALSE(reply.is_discarded()) << *line;
  EXPECT_EQ(reply["error"]["code"], "InvalidArgument");
  EXPECT_TRUE(closed_by_peer(fd));
  ::close(fd);
}

// A flag is a JSON boolean: "yes" or 1 is refused, not read as false.
TEST_F(AdminTest, AFlagThatIsNotABooleanIsRefused) {
  for (const char* request :
       {R"({"command": "uninstall", "name": "nobody", "remove_state": "yes"})",
        R"({"command": "uninstall", "name": "nobody", "remove_state": 1})",
        R"({"command": "start", "name": "nobody", "approve": "true"})"}) {
    auto reply = call(json::parse(request));
    EXPECT_EQ(reply["ok"], false) << request;
    EXPECT_EQ(reply["error"]["code"], "InvalidArgument") << request << " " << reply.dump();
  }
  auto reply = call(json::parse(R"({"command": "uninstall", "name": "nobody", "remove_state": true})"));
  EXPECT_EQ(reply["error"]["code"], "NotFound") << reply.dump();
}

// An idle connection is closed after the idle timeout, with a line that says
// so, and its slot serves the next client.
TEST_F(AdminTest, AnIdleConnectionIsClosedAndItsSlotFreed) {
  restart_server(AdminOptions{.max_connections = 1, .idle_timeout = std::chrono::milliseconds(300)});
  int idle = open_raw();  // holds the only slot, says nothing
  auto line = read_line(idle);
  ASSERT_TRUE(line) << "the idle connection was not closed";
  EXPECT_NE(line->find("no request for 300 ms"), std::string::npos) << *line;
  EXPECT_TRUE(closed_by_peer(idle));
  ::close(idle);
  auto client = AdminClient::connect(socket_);
  ASSERT_TRUE(client);
  auto pong = client->call({{"command", "ping"}});
  ASSERT_TRUE(pong) << pong.error().to_string();
  EXPECT_EQ((*pong)["ok"], true) << pong->dump();
}

// A refused client reads the refusal, even when the host closed the
// connection before the client wrote its request.
TEST_F(AdminTest, ARefusedClientReadsTheRefusal) {
  restart_server(AdminOptions{.max_connections = 1});
  auto held = AdminClient::connect(socket_);
  ASSERT_TRUE(held);
  auto pong = held->call({{"command", "ping"}});  // served: it holds the one slot
  ASSERT_TRUE(pong && (*pong)["ok"]);
  auto refused = AdminClient::connect(socket_);
  ASSERT_TRUE(refused);
  // A third connection, refused after the second: once its refusal is on
  // record, the host has long written and closed the second one.
  int third = open_raw();
  for (int i = 0; i < 30'000 && denials() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(denials(), 2u);
  auto reply = refused->call({{"command", "ping"}});
  ASSERT_TRUE(reply) << reply.error().to_string();
  EXPECT_EQ((*reply)["ok"], false);
  EXPECT_EQ((*reply)["error"]["code"], "MailboxFull") << reply->dump();
  ::close(third);
}

// Past max_connections a connection is refused with a typed error, on record.
TEST_F(AdminTest, ConnectionsPastTheLimitAreRefusedAndAudited) {
  server_.reset();
  auto server = AdminServer::start(*host_, socket_, AdminOptions{.max_connections = 1});
  ASSERT_TRUE(server) << server.error().to_string();
  server_ = std::move(*server);
  auto held = AdminClient::connect(socket_);
  ASSERT_TRUE(held);
  auto pong = held->call({{"command", "ping"}});  // served: it holds the one slot
  ASSERT_TRUE(pong && (*pong)["ok"]);
  auto reply = json::parse(raw("{\"command\": \"ping\"}\n"), nullptr, false);
  ASSERT_FALSE(reply.is_discarded());
  EXPECT_EQ(reply["ok"], false);
  EXPECT_EQ(reply["error"]["code"], "MailboxFull");
  host_->audit().flush();
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(admin_denials_.size(), 1u);
    EXPECT_EQ(admin_denials_[0], "more than 1 admin connections");
  }
  // The held connection still works, and a slot frees when it closes.
  pong = held->call({{"command", "ping"}});
  EXPECT_TRUE(pong && (*pong)["ok"]);
}

// Another user: the socket's mode keeps them out; with the mode opened up,
// the SO_PEERCRED check still refuses them. Needs root to become that user.
TEST_F(AdminTest, AnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  auto attempt = [&]() -> int {  // in a child that became uid 65534
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strcpy(addr.sun_path, socket_.c_str());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::_exit(errno == EACCES ? 20 : 21);
      }
      // No allocation in this child of a threaded process; the server may
      // already have closed the connection (MSG_NOSIGNAL: no SIGPIPE).
      const char request[] = "{\"command\": \"list\"}\n";
      (void)::send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
      char out[512] = {};
      size_t used = 0;
      char c;
      while (used + 1 < sizeof out && ::recv(fd, &c, 1, 0) == 1 && c != '\n') out[used++] = c;
      bool refused = std::strstr(out, "\"ok\":false") && std::strstr(out, "CapabilityDenied");
      ::_exit(refused ? 30 : 31);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(attempt(), 20) << "the file mode should refuse the connection";
  // Open the path and the socket to everyone: the peer check must hold alone.
  fs::permissions(root_.path(), fs::perms::all, fs::perm_options::replace);
  fs::permissions(data_, fs::perms::all, fs::perm_options::replace);
  ::chmod(socket_.c_str(), 0666);
  EXPECT_EQ(attempt(), 30) << "the peer uid check should refuse the connection";
  EXPECT_EQ(server_->refused_peers(), 1u);
  host_->audit().flush();
  std::lock_guard lock(mutex_);
  ASSERT_EQ(admin_denials_.size(), 1u);
  EXPECT_NE(admin_denials_[0].find("peer uid 65534"), std::string::npos) << admin_denials_[0];
  fs::permissions(data_, fs::perms::owner_all, fs::perm_options::replace);
}

}  // namespace
}  // namespace airssys::wasm::system
