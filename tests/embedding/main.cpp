// Embeds the host: installs a component folder into a data directory,
// approves and starts it, sends it messages, reads its state and quota
// status, follows the audit stream, and shuts down.
// Usage: embed_host DATA_DIR COMPONENT_DIR

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <airssys/wasm/system/host.hpp>

using namespace airssys::wasm;

int fail(const Error& error) {
  std::fprintf(stderr, "embed_host: %s\n", error.to_string().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: embed_host DATA_DIR COMPONENT_DIR\n");
    return 2;
  }
  std::atomic<int> audited{0};
  std::atomic<int> printed{0};
  auto host = system::HostBuilder()
                  .data_dir(argv[1])
                  .workers(1)
                  .on_audit([&](const security::AuditRecord&, std::string_view) { ++audited; })
                  .on_log([&](const host::LogLine& line) {
                    std::printf("[%.*s] %.*s\n", static_cast<int>(line.component.size()),
                                line.component.data(), static_cast<int>(line.text.size()),
                                line.text.data());
                    ++printed;
                  })
                  .build();
  if (!host) return fail(host.error());

  auto installed = (*host)->install(argv[2]);
  if (!installed) return fail(installed.error());
  std::printf("installed %s %s, status %s\n", installed->name.c_str(),
              installed->current.version.c_str(), installed->status.c_str());
  if (installed->current.approval_key) {
    auto approved = (*host)->approve(installed->name, "embed_host");
    if (!approved) return fail(approved.error());
  }
  if (auto started = (*host)->start(installed->name); !started) return fail(started.error());

  const std::string tick = "tick";
  for (int i = 0; i < 3; ++i) {
    auto sent = (*host)->send(installed->name, std::vector<uint8_t>(tick.begin(), tick.end()));
    if (!sent) return fail(sent.error());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto report = (*host)->info(installed->name);
    if (!report) return fail(report.error());
    if (report->messages_handled == 3) {
      std::printf("handled %llu messages; storage %llu of %llu bytes\n",
                  static_cast<unsigned long long>(report->messages_handled),
                  static_cast<unsigned long long>(report->storage_used),
                  static_cast<unsigned long long>(report->quotas.storage_bytes));
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "embed_host: the component handled %llu of 3 messages\n",
                   static_cast<unsigned long long>(report->messages_handled));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto value = (*host)->state().get(installed->name, "counter:value");
  if (!value || !*value) {
    std::fprintf(stderr, "embed_host: no counter in the component's state\n");
    return 1;
  }
  std::printf("counter = %s\n", std::string((*value)->begin(), (*value)->end()).c_str());
  (*host)->shutdown();
  std::printf("audit records: %d, log lines: %d\n", audited.load(), printed.load());
  return std::string((*value)->begin(), (*value)->end()) == "3" && audited > 0 ? 0 : 1;
}
