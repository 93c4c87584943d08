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

#include "../support/line_log.hpp"
#include "airssys/wasm/security/audit.hpp"

namespace airssys::wasm::component::testing {

using namespace std::chrono_literals;

inline std::filesystem::path component(const char* name) {
  return std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

// Lines the components print (each component's output split into lines on
// its own), and audit records.
class Transcript : public airssys::wasm::test::LineLog {
 public:
  void add_record(const security::AuditRecord& r) {
    {
      std::lock_guard lock(mutex());
      records_.push_back(r);
    }
    notify();
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
    std::lock_guard lock(mutex());
    return records_;
  }

 private:
  std::vector<security::AuditRecord> records_;
};

}  // namespace airssys::wasm::component::testing
