#include "airssys/wasm/host/context.hpp"

#include <unistd.h>

#include <cerrno>

namespace airssys::wasm::host {
namespace {

void write_all(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the host's own stream is gone; the component's output is dropped
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

}  // namespace

void ComponentContext::write_stdout(std::span<const uint8_t> bytes) const {
  if (wasi_.stdout_sink) {
    wasi_.stdout_sink(bytes);
  } else {
    write_all(STDOUT_FILENO, bytes);
  }
}

void ComponentContext::write_stderr(std::span<const uint8_t> bytes) const {
  if (wasi_.stderr_sink) {
    wasi_.stderr_sink(bytes);
  } else {
    write_all(STDERR_FILENO, bytes);
  }
}

}  // namespace airssys::wasm::host
