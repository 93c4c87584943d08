#include "daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace airssys::wasm::testing {

namespace {
constexpr auto kPoll = std::chrono::milliseconds(10);
}  // namespace

Daemon::Daemon(const std::filesystem::path& cli, const std::filesystem::path& config,
               const std::filesystem::path& log)
    : Daemon({cli.string(), "serve", "--config", config.string()}, log) {}

Daemon::Daemon(const std::vector<std::string>& argv, const std::filesystem::path& log)
    : log_(log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 2);
    ::dup2(fd, 1);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Daemon::~Daemon() {
  if (pid_ > 0) kill();
}

bool Daemon::wait_serving(const std::filesystem::path& socket, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (std::filesystem::exists(socket) && log().find("serving") != std::string::npos) return true;
    if (pid_ <= 0 || ::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(kPoll);
  }
  return false;
}

bool Daemon::wait_logged(const std::vector<std::string>& lines,
                         std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  auto all_there = [&] {
    const std::string text = log();
    for (const auto& line : lines) {
      if (text.find(line) == std::string::npos) return false;
    }
    return true;
  };
  while (!all_there()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    if (pid_ <= 0 || ::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return all_there();
    }
    std::this_thread::sleep_for(kPoll);
  }
  return true;
}

int Daemon::terminate(std::chrono::milliseconds deadline) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(kPoll);
  }
  return -1;
}

void Daemon::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Daemon::hangup() {
  if (pid_ > 0) ::kill(pid_, SIGHUP);
}

std::string Daemon::log() const {
  std::ifstream in(log_);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace airssys::wasm::testing
