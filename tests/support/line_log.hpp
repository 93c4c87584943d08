#pragma once
// Lines that arrive from other threads (what components print, log lines,
// audit lines), kept in order, with waits for the ones a test expects. The one
// line collector of the tests. A wait only bounds a hang: its deadline is
// generous, and a line that arrives ends it at once.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace airssys::wasm::test {

class LineLog {
 public:
  static constexpr std::chrono::milliseconds kWait{30'000};

  // Output bytes from `source`; each source's bytes are split into lines on
  // their own, a line ending at '\n'.
  void add(const std::string& source, std::span<const uint8_t> bytes) {
    {
      std::lock_guard lock(mutex_);
      std::string& pending = pending_[source];
      pending.append(bytes.begin(), bytes.end());
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        lines_.push_back(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    changed_.notify_all();
  }
  void add(std::span<const uint8_t> bytes) { add(std::string(), bytes); }
  // One whole line.
  void add_line(std::string line) {
    {
      std::lock_guard lock(mutex_);
      lines_.push_back(std::move(line));
    }
    changed_.notify_all();
  }
  // A function that adds the bytes it is given as output from `source`.
  [[nodiscard]] std::function<void(std::span<const uint8_t>)> output(std::string source) {
    return [this, source = std::move(source)](std::span<const uint8_t> bytes) {
      add(source, bytes);
    };
  }

  // Waits until the line `line` is there.
  [[nodiscard]] bool wait_line(const std::string& line, std::chrono::milliseconds timeout = kWait) {
    return wait_until(timeout, [&] { return count_locked(line, true) > 0; });
  }
  // Waits until a line starts with `prefix`.
  [[nodiscard]] bool wait_prefix(const std::string& prefix,
                                 std::chrono::milliseconds timeout = kWait) {
    return wait_until(timeout, [&] { return count_locked(prefix, false) > 0; });
  }
  // Waits until `n` lines start with `prefix`.
  [[nodiscard]] bool wait_count(const std::string& prefix, size_t n,
                                std::chrono::milliseconds timeout = kWait) {
    return wait_until(timeout, [&] { return count_locked(prefix, false) >= n; });
  }
  // The first line that starts with `prefix` at or after line `from` (0-based),
  // waiting for it; "" after the timeout.
  [[nodiscard]] std::string wait(const std::string& prefix, size_t from = 0,
                                 std::chrono::milliseconds timeout = kWait) {
    std::string found;
    wait_until(timeout, [&] {
      for (size_t i = from; i < lines_.size(); ++i) {
        if (lines_[i].starts_with(prefix)) {
          found = lines_[i];
          return true;
        }
      }
      return false;
    });
    return found;
  }
  // The n-th (1-based) line that starts with `prefix`, waiting for it; ""
  // after the timeout.
  [[nodiscard]] std::string wait_nth(const std::string& prefix, size_t n,
                                     std::chrono::milliseconds timeout = kWait) {
    std::string found;
    wait_until(timeout, [&] {
      size_t seen = 0;
      for (const auto& l : lines_) {
        if (l.starts_with(prefix) && ++seen == n) {
          found = l;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  [[nodiscard]] std::optional<std::string> find_prefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_) {
      if (l.starts_with(prefix)) return l;
    }
    return std::nullopt;
  }
  // How many lines are exactly `line`.
  [[nodiscard]] size_t count(const std::string& line) {
    std::lock_guard lock(mutex_);
    return count_locked(line, true);
  }
  // How many lines start with `prefix`.
  [[nodiscard]] size_t count_prefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    return count_locked(prefix, false);
  }
  [[nodiscard]] std::vector<std::string> with_prefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.starts_with(prefix)) out.push_back(l);
    }
    return out;
  }
  [[nodiscard]] size_t size() {
    std::lock_guard lock(mutex_);
    return lines_.size();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    lines_.clear();
  }
  // Every line, one a line, for a failure message.
  [[nodiscard]] std::string dump() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 protected:
  // For a collector that keeps more than lines: wakes the waits.
  void notify() { changed_.notify_all(); }
  std::mutex& mutex() { return mutex_; }

 private:
  template <class Pred>
  bool wait_until(std::chrono::milliseconds timeout, Pred pred) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, pred);
  }
  size_t count_locked(const std::string& text, bool whole) const {
    return static_cast<size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const auto& l) {
      return whole ? l == text : l.starts_with(text);
    }));
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> pending_;
  std::vector<std::string> lines_;
};

}  // namespace airssys::wasm::test
