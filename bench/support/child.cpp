#include "support/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace airssys::wasm::bench {
namespace {

double ns_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_usec) * 1e3;
}

void drain(int& fd, std::string& kept) {
  std::array<char, 65536> buffer{};
  const ssize_t n = ::read(fd, buffer.data(), buffer.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    ::close(fd);
    fd = -1;
    return;
  }
  kept.append(buffer.data(), static_cast<size_t>(n));
}

}  // namespace

std::expected<ChildOutcome, std::string> run_child(const std::vector<std::string>& argv,
                                                   std::chrono::steady_clock::duration timeout) {
  using namespace std::chrono_literals;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return std::unexpected(std::strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return std::unexpected(std::strerror(errno));
  }
  ChildOutcome outcome;
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err[1], 2) < 0) {
      ::_exit(126);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    return std::unexpected(fmt::format("fork: {}", std::strerror(errno)));
  }
  ::setpgid(pid, pid);  // also here: the group exists before any kill
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  const auto deadline = start + timeout;
  int out_fd = out[0], err_fd = err[0];
  bool exited = false;
  while (out_fd >= 0 || err_fd >= 0 || (!exited && pidfd >= 0)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      ::kill(-pid, SIGKILL);
      outcome.timed_out = true;
      break;
    }
    std::array<pollfd, 3> fds{{{out_fd, POLLIN, 0},
                               {err_fd, POLLIN, 0},
                               {exited ? -1 : pidfd, POLLIN, 0}}};
    const int ready =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) {
      ::kill(-pid, SIGKILL);
      outcome.err += fmt::format("[bench: poll: {}]", std::strerror(errno));
      break;
    }
    if (fds[0].revents) drain(out_fd, outcome.out);
    if (fds[1].revents) drain(err_fd, outcome.err);
    if (fds[2].revents) exited = true;
  }
  rusage usage{};
  int status = 0;
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  const auto end = std::chrono::steady_clock::now();
  if (outcome.timed_out) ::kill(-pid, SIGKILL);  // whatever of the group is left
  for (int fd : {out_fd, err_fd, pidfd}) {
    if (fd >= 0) ::close(fd);
  }
  outcome.wall_ns = std::chrono::duration<double, std::nano>(end - start).count();
  outcome.cpu_ns = ns_of(usage.ru_utime) + ns_of(usage.ru_stime);
  outcome.max_rss_kib = usage.ru_maxrss;
  outcome.wait_status = status;
  return outcome;
}

std::string child_failure(const ChildOutcome& o) {
  const auto nl = o.err.find('\n');
  const std::string err = o.err.empty() ? "" : ": " + o.err.substr(0, std::min<size_t>(nl, 300));
  if (o.timed_out) return "no end in time, killed" + err;
  if (WIFSIGNALED(o.wait_status)) return fmt::format("killed by signal {}{}", WTERMSIG(o.wait_status), err);
  if (!WIFEXITED(o.wait_status)) return "did not exit" + err;
  if (WEXITSTATUS(o.wait_status) != 0) {
    const int code = WEXITSTATUS(o.wait_status);
    return fmt::format("exit status {}{}{}", code,
                       code == 127 ? " (the program could not be started)" : "", err);
  }
  return {};
}

double self_cpu_ns() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return ns_of(usage.ru_utime) + ns_of(usage.ru_stime);
}

double children_cpu_ns() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  return ns_of(usage.ru_utime) + ns_of(usage.ru_stime);
}

long children_max_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  return usage.ru_maxrss;
}

}  // namespace airssys::wasm::bench
