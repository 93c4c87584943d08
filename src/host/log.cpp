#include "airssys/wasm/host/log.hpp"

#include <chrono>

#include <fmt/format.h>

#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys_calls.hpp"

namespace airssys::wasm::host {

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Trace: return "trace";
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "?";
}

ComponentLog::ComponentLog(std::string component, LogSink sink, LogOptions options,
                           std::function<void(uint64_t)> on_drop)
    : component_(std::move(component)),
      sink_(std::move(sink)),
      options_(options),
      on_drop_(std::move(on_drop)) {}

ComponentLog::~ComponentLog() { flush(); }

bool ComponentLog::admit(size_t bytes) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (now != window_) {
    window_ = now;
    lines_ = 0;
    bytes_ = 0;
    reported_this_window_ = false;
  }
  if (lines_ >= options_.lines_per_second || bytes_ + bytes > options_.bytes_per_second) {
    ++dropped_;
    if (!reported_this_window_) {
      reported_this_window_ = true;
      if (on_drop_) on_drop_(dropped_);
    }
    return false;
  }
  ++lines_;
  bytes_ += bytes;
  return true;
}

bool ComponentLog::write(LogLevel level, std::string_view source, std::string_view text) {
  std::string cut;
  if (text.size() > options_.max_line_bytes) {
    cut = fmt::format("{}... ({} bytes cut)", text.substr(0, options_.max_line_bytes),
                      text.size() - options_.max_line_bytes);
    text = cut;
  }
  if (!admit(text.size())) return false;
  if (dropped_ > dropped_reported_) {
    std::string notice =
        fmt::format("{} log lines dropped by the rate limit", dropped_ - dropped_reported_);
    dropped_reported_ = dropped_;
    if (sink_) sink_(LogLine{component_, LogLevel::Warn, "host", notice});
  }
  if (sink_) sink_(LogLine{component_, level, source, text});
  return true;
}

void ComponentLog::output(std::string_view source, std::span<const uint8_t> bytes) {
  std::string& partial = source == "stderr" ? partial_stderr_ : partial_stdout_;
  LogLevel level = source == "stderr" ? LogLevel::Warn : LogLevel::Info;
  partial.append(bytes.begin(), bytes.end());
  size_t start = 0;
  for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    write(level, source, std::string_view(partial).substr(start, nl - start));
  }
  partial.erase(0, start);
  // A line that never ends is logged in pieces rather than held without bound.
  while (partial.size() > options_.max_line_bytes) {
    write(level, source, std::string_view(partial).substr(0, options_.max_line_bytes));
    partial.erase(0, options_.max_line_bytes);
  }
}

void ComponentLog::flush() {
  if (!partial_stdout_.empty()) write(LogLevel::Info, "stdout", partial_stdout_);
  if (!partial_stderr_.empty()) write(LogLevel::Warn, "stderr", partial_stderr_);
  partial_stdout_.clear();
  partial_stderr_.clear();
}

Answer<void> log_line(ComponentContext& ctx, LogLevel level, std::string_view text) {
  if (ComponentLog* log = ctx.log()) {
    if (!log->write(level, "log", text)) return std::unexpected(AbiError::Quota);
    return {};
  }
  std::string line = fmt::format("[{}] {}\n", log_level_name(level), text);
  ctx.write_stderr(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(line.data()), line.size()));
  return {};
}

void add_log(engine::Linker& linker) {
  using engine::Value;
  using engine::ValType;
  linker.define(
      {std::string(kAirssysModule), "log", {{ValType::I32, ValType::I32, ValType::I32}, {ValType::I32}},
       [](engine::HostCall& call, std::span<const Value> args,
          std::span<Value> results) -> Result<void> {
         auto* ctx = static_cast<ComponentContext*>(call.user_data());
         if (!ctx) {
           return make_error(ErrorCode::InternalError, "airssys.log without a component context");
         }
         auto result = [&](AbiError e) { results[0] = Value::i32(static_cast<int32_t>(e)); };
         int32_t level = args[0].as_i32();
         uint32_t len = static_cast<uint32_t>(args[2].as_i32());
         if (level < 0 || level > 4) return result(AbiError::Invalid), Result<void>{};
         auto bytes = call.memory(static_cast<uint32_t>(args[1].as_i32()), len);
         if (!bytes) return result(AbiError::Invalid), Result<void>{};
         std::string_view text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
         auto written = log_line(*ctx, static_cast<LogLevel>(level), text);
         result(written ? AbiError::Ok : written.error());
         return Result<void>{};
       }});
}

}  // namespace airssys::wasm::host
