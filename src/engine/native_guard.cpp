// Guard-page linear memories of the native tier (native_guard.hpp).
//
// A guard-page object's loads and stores are not checked: each memory is a
// reservation of all that (u64)address + offset + size can reach, and only
// its pages are accessible. An access beyond them faults. The handler turns
// the fault into the out-of-bounds trap only when both hold:
// - the faulting instruction lies in the code of a loaded guard-page object;
// - the faulting address lies in a guard reservation held now;
// and the interrupted stack is a call's (its state found by masking the stack
// pointer, as the runtime's trap does). The thread then resumes in the
// object's airssys_memory_fault, as if called from the faulting instruction,
// which raises the trap an explicit check raises: same code, same message,
// the fuel still in its register, the frames from the faulting function up.
// Anything else goes to the handler that was installed before, or, when
// there was none, the fault happens again under the default action: a host
// bug is never taken for a guest's trap.
//
// The handler reads two registries without locks or allocation: fixed slots
// in chunks that are never freed, each range published by its begin address.

#include "native_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "airssys-native.h"

namespace airssys::wasm::engine::native {
namespace {

// Ranges [begin, end) with a value each; add and remove under a lock, find
// from a signal handler.
class RangeRegistry {
 public:
  static constexpr size_t kChunkSlots = 1024;
  static constexpr size_t kMaxChunks = 4096;  // four million ranges

  std::optional<size_t> add(uintptr_t begin, uintptr_t end, uintptr_t value) {
    std::lock_guard lock(mutex_);
    size_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = used_.load(std::memory_order_relaxed);
      const size_t chunk = slot / kChunkSlots;
      if (chunk >= kMaxChunks) return std::nullopt;
      if (!chunks_[chunk].load(std::memory_order_relaxed)) {
        auto* fresh = new (std::nothrow) Slot[kChunkSlots];
        if (!fresh) return std::nullopt;
        chunks_[chunk].store(fresh, std::memory_order_release);
      }
      try {
        // So that remove never allocates.
        if (free_.capacity() < slot + 1) free_.reserve(std::max<size_t>(2 * slot, 64));
      } catch (const std::bad_alloc&) {
        return std::nullopt;
      }
      used_.store(slot + 1, std::memory_order_release);
    }
    Slot& s = at(slot);
    s.end.store(end, std::memory_order_relaxed);
    s.value.store(value, std::memory_order_relaxed);
    s.begin.store(begin, std::memory_order_release);
    return slot;
  }

  void remove(size_t slot) noexcept {
    std::lock_guard lock(mutex_);
    at(slot).begin.store(0, std::memory_order_release);
    free_.push_back(slot);  // reserved in add
  }

  // Async-signal-safe: the value of a range holding `address`.
  bool find(uintptr_t address, uintptr_t* value) const noexcept {
    const size_t used = used_.load(std::memory_order_acquire);
    for (size_t k = 0; k < used; ++k) {
      const Slot* chunk = chunks_[k / kChunkSlots].load(std::memory_order_acquire);
      const Slot& s = chunk[k % kChunkSlots];
      const uintptr_t begin = s.begin.load(std::memory_order_acquire);
      if (begin == 0 || address < begin) continue;
      const uintptr_t end = s.end.load(std::memory_order_relaxed);
      const uintptr_t v = s.value.load(std::memory_order_relaxed);
      // A slot rewritten meanwhile is skipped; one that holds `address`
      // belongs to a range in use, which nobody rewrites.
      if (s.begin.load(std::memory_order_acquire) != begin || address >= end) continue;
      if (value) *value = v;
      return true;
    }
    return false;
  }

 private:
  struct Slot {
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    std::atomic<uintptr_t> value{0};
  };
  Slot& at(size_t slot) const {
    return chunks_[slot / kChunkSlots].load(std::memory_order_relaxed)[slot % kChunkSlots];
  }

  std::atomic<Slot*> chunks_[kMaxChunks]{};
  std::atomic<size_t> used_{0};
  std::mutex mutex_;
  std::vector<size_t> free_;
};

// Both live as long as the process: the handler may run at any time.
RangeRegistry& code_ranges() {
  static auto* registry = new RangeRegistry;
  return *registry;
}

struct Reservations {
  RangeRegistry ranges;
  std::mutex mutex;
  std::unordered_map<uintptr_t, size_t> slots;  // base -> slot
};
Reservations& reservations() {
  static auto* r = new Reservations;
  return *r;
}

struct sigaction g_previous_segv {};
struct sigaction g_previous_bus {};
std::atomic<bool> g_installed{false};

// The previous handler's turn: called as it would have been; with none (or
// the fault ignored) its disposition is put back, so the fault happens again
// when the instruction repeats (a signal sent by kill is raised again) and
// ends the process as before.
void chain(int sig, siginfo_t* info, void* context) {
  const struct sigaction& previous = sig == SIGSEGV ? g_previous_segv : g_previous_bus;
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler == SIG_IGN && info->si_code <= 0) return;  // sent, and ignored
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    ::sigaction(sig, &previous, nullptr);
    if (info->si_code <= 0) ::raise(sig);  // delivered once this handler returns
    return;
  }
  previous.sa_handler(sig);
}

void on_fault(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  auto* uc = static_cast<ucontext_t*>(context);
  // si_code > 0: the kernel reports this thread's own access (not a kill).
  if (info->si_code > 0) {
#if defined(__x86_64__) && defined(__linux__)
    greg_t* regs = uc->uc_mcontext.gregs;
    const auto pc = static_cast<uintptr_t>(regs[REG_RIP]);
    uintptr_t fault_entry = 0;
    if (code_ranges().find(pc, &fault_entry) &&
        reservations().ranges.find(reinterpret_cast<uintptr_t>(info->si_addr), nullptr)) {
      const auto sp = static_cast<uintptr_t>(regs[REG_RSP]);
      const airssys_call_ctx* call = airssys_ctx_of(sp);
      if (call->magic == AIRSSYS_CTX_MAGIC && call->unwind) {
        // Resume in the object's airssys_memory_fault as if called from the
        // faulting instruction, its return address below the red zone where
        // the trampoline's unwind rules look for it: one past the faulting
        // instruction's first byte, so the unwinder describes the faulting
        // function as at that instruction (airssys-rt.c).
        const uintptr_t top = sp - AIRSSYS_FAULT_FRAME;
        *reinterpret_cast<uintptr_t*>(top) = pc + 1;
        regs[REG_RSP] = static_cast<greg_t>(top);
        regs[REG_RIP] = static_cast<greg_t>(fault_entry);
        errno = saved_errno;
        return;
      }
    }
#else
    (void)uc;
#endif
  }
  chain(sig, info, context);
  errno = saved_errno;
}

constexpr size_t kAltStackBytes = 64u << 10;

// The alternate signal stack this thread was given, freed when it ends.
struct AltStack {
  char* mapping = nullptr;
  bool ready = false;
  ~AltStack() {
    if (!mapping) return;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && current.ss_sp == mapping + kPageBytes()) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      ::sigaltstack(&off, nullptr);
    }
    ::munmap(mapping, kPageBytes() + kAltStackBytes);
  }
  static size_t kPageBytes() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }
};
thread_local AltStack t_alt_stack;

}  // namespace

bool guard_pages_supported() {
#if defined(__x86_64__) && defined(__linux__)
  return true;
#else
  return false;
#endif
}

bool install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!guard_pages_supported()) return;
    // Made before the handler can run.
    (void)code_ranges();
    (void)reservations();
    struct sigaction action{};
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGSEGV, &action, &g_previous_segv) != 0) return;
    if (::sigaction(SIGBUS, &action, &g_previous_bus) != 0) {
      ::sigaction(SIGSEGV, &g_previous_segv, nullptr);
      return;
    }
    g_installed.store(true, std::memory_order_release);
  });
  return g_installed.load(std::memory_order_acquire);
}

void ensure_alt_stack() noexcept {
  AltStack& alt = t_alt_stack;
  if (alt.ready || !g_installed.load(std::memory_order_relaxed)) return;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE) &&
      current.ss_size >= kAltStackBytes) {
    alt.ready = true;  // one of the thread's own, large enough
    return;
  }
  // Below the stack, an inaccessible page.
  const size_t page = AltStack::kPageBytes();
  void* raw = ::mmap(nullptr, page + kAltStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return;  // tried again at the next entry
  auto* mapping = static_cast<char*>(raw);
  ::mprotect(mapping, page, PROT_NONE);
  stack_t alt_stack{};
  alt_stack.ss_sp = mapping + page;
  alt_stack.ss_size = kAltStackBytes;
  if (::sigaltstack(&alt_stack, nullptr) != 0) {
    ::munmap(mapping, page + kAltStackBytes);
    return;
  }
  alt.mapping = mapping;
  alt.ready = true;
}

uint8_t* reserve_memory() noexcept {
  void* base = ::mmap(nullptr, AIRSSYS_GUARD_RESERVE, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  const auto begin = reinterpret_cast<uintptr_t>(base);
  Reservations& r = reservations();
  try {
    std::lock_guard lock(r.mutex);
    auto [it, added] = r.slots.emplace(begin, 0);
    auto slot = r.ranges.add(begin, begin + AIRSSYS_GUARD_RESERVE, 0);
    if (!slot) {
      r.slots.erase(it);
      ::munmap(base, AIRSSYS_GUARD_RESERVE);
      return nullptr;
    }
    it->second = *slot;
  } catch (const std::bad_alloc&) {
    ::munmap(base, AIRSSYS_GUARD_RESERVE);
    return nullptr;
  }
  return static_cast<uint8_t*>(base);
}

void release_memory(uint8_t* base) noexcept {
  Reservations& r = reservations();
  {
    std::lock_guard lock(r.mutex);
    auto it = r.slots.find(reinterpret_cast<uintptr_t>(base));
    if (it == r.slots.end()) return;  // not one of ours: left alone
    r.ranges.remove(it->second);
    r.slots.erase(it);
  }
  ::munmap(base, AIRSSYS_GUARD_RESERVE);
}

bool is_guard_memory(const uint8_t* base) noexcept {
  Reservations& r = reservations();
  std::lock_guard lock(r.mutex);
  return r.slots.contains(reinterpret_cast<uintptr_t>(base));
}

std::optional<size_t> register_code(uintptr_t begin, uintptr_t end, uintptr_t fault_entry) {
  if (begin == 0 || begin >= end) return std::nullopt;
  return code_ranges().add(begin, end, fault_entry);
}

void unregister_code(size_t handle) noexcept { code_ranges().remove(handle); }

}  // namespace airssys::wasm::engine::native
