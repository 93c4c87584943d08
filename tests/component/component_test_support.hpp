#pragma once
// What the component tests observe: the lines real components print and the
// audit records the host writes, collected across the scheduler's threads.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "airssys/wasm/security/audit.hpp"

namespace airssys::wasm::component::testing {

using namespace std::chrono_literals;

inline std::filesystem::path component(const char* name) {
  return std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

// Lines the components print, and audit records.
class Transcript {
 public:
  // Each component's output is split into lines on its own.
  void add_output(const std::string& source, std::span<const uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    std::string& pending = pending_[source];
    pending.append(bytes.begin(), bytes.end());
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      lines_.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
    changed_.notify_all();
  }
  void add_record(const security::AuditRecord& r) {
    std::lock_guard lock(mutex_);
    records_.push_back(r);
    changed_.notify_all();
  }
  bool wait_line(const std::string& line, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return std::find(lines_.begin(), lines_.end(), line) != lines_.end();
    });
  }
  bool wait_prefix(const std::string& prefix, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return find_prefix_locked(prefix).has_value(); });
  }
  std::optional<std::string> find_prefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    return find_prefix_locked(prefix);
  }
  // Waits until `n` lines start with `prefix`.
  bool wait_count(const std::string& prefix, size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return static_cast<size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const auto& l) {
               return l.starts_with(prefix);
             })) >= n;
    });
  }
  std::vector<std::string> all_with_prefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.starts_with(prefix)) out.push_back(l);
    }
    return out;
  }
  size_t count_prefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    return std::count_if(lines_.begin(), lines_.end(),
                         [&](const std::string& l) { return l.starts_with(prefix); });
  }
  // An audit log in memory whose every record lands in this transcript.
  std::unique_ptr<security::AuditLog> audit_log() {
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      add_record(r);
    };
    return security::AuditLog::without_file(options).value();
  }
  std::vector<security::AuditRecord> records() {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::string dump() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  std::optional<std::string> find_prefix_locked(const std::string& prefix) {
    for (const auto& l : lines_) {
      if (l.starts_with(prefix)) return l;
    }
    return std::nullopt;
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> pending_;
  std::vector<std::string> lines_;
  std::vector<security::AuditRecord> records_;
};

}  // namespace airssys::wasm::component::testing
