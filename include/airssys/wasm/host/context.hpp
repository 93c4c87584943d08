#pragma once
// What the host functions know about the component that calls them. One
// ComponentContext per instance, handed to the engine as the instance's
// user data; a host function called without one fails closed.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace airssys::wasm::host {

// Receives what the component writes to one of its output streams.
using OutputSink = std::function<void(std::span<const uint8_t>)>;

struct WasiOptions {
  std::vector<std::string> args;  // argv, argv[0] included
  std::vector<std::string> env;   // "KEY=value" entries
  OutputSink stdout_sink;         // empty: the host process's stdout
  OutputSink stderr_sink;         // empty: the host process's stderr
};

class ComponentContext {
 public:
  explicit ComponentContext(WasiOptions wasi) : wasi_(std::move(wasi)) {}

  [[nodiscard]] const WasiOptions& wasi() const { return wasi_; }
  void write_stdout(std::span<const uint8_t> bytes) const;
  void write_stderr(std::span<const uint8_t> bytes) const;

 private:
  WasiOptions wasi_;
};

}  // namespace airssys::wasm::host
