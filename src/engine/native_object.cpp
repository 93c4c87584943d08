// The native tier's loaded object: a compiled module's shared object loaded
// from verified bytes, bound to the host's API, its code mapped for the
// backtraces of traps.

#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "airssys-native.h"
#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "native_backend.hpp"
#include "native_guard.hpp"

namespace airssys::wasm::engine::native {
namespace {

// One id per function signature in the process, shared by every compiled
// module, so call_indirect across modules compares like with like. The key
// holds both counts in full, so no two signatures share an id however long
// they are. 0 (never a valid id) when the registry cannot grow.
uint32_t register_func_type(uint32_t params, uint32_t results, const uint8_t* types) noexcept {
  static std::mutex mutex;
  static std::map<std::string, uint32_t> ids;
  try {
    std::string key;
    key.reserve(8 + static_cast<size_t>(params) + results);
    for (uint32_t count : {params, results}) {
      for (int shift = 0; shift < 32; shift += 8) key += static_cast<char>((count >> shift) & 0xff);
    }
    key.append(reinterpret_cast<const char*>(types), static_cast<size_t>(params) + results);
    std::lock_guard lock(mutex);
    if (ids.size() >= UINT32_MAX - 1) return 0;
    auto [it, added] = ids.emplace(std::move(key), static_cast<uint32_t>(ids.size() + 1));
    return it->second;
  } catch (const std::bad_alloc&) {
    return 0;
  }
}

const airssys_host_api kHostApi{register_func_type, call_import, raise_error, reserve_memory,
                                release_memory};

// The executable segment of the loaded object that holds `address`.
struct CodeSearch {
  uintptr_t address = 0;
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

int find_code_segment(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<CodeSearch*>(data);
  for (ElfW(Half) k = 0; k < info->dlpi_phnum; ++k) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[k];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    if (search->address >= begin && search->address < begin + ph.p_memsz) {
      search->begin = begin;
      search->end = begin + ph.p_memsz;
      return 1;
    }
  }
  return 0;
}

}  // namespace

LoadedObject::~LoadedObject() {
  if (code_handle_) unregister_code(*code_handle_);
  if (handle_) ::dlclose(handle_);
}

Result<std::shared_ptr<LoadedObject>> LoadedObject::load(const std::vector<uint8_t>& bytes,
                                                         const detail::NativePlan& plan,
                                                         const fs::path& dir,
                                                         std::string_view name,
                                                         bool guard_pages) {
  static std::atomic<uint64_t> sequence{0};
  fs::path path = dir / fmt::format(".load-{}-{}.so", ::getpid(), sequence.fetch_add(1));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot write the native object to {}: {}", name,
                                  path.string(), std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return make_error(ErrorCode::IoError, fmt::format("{}: cannot write the native object", name));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  auto object = std::make_shared<LoadedObject>();
  object->handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ::unlink(path.c_str());
  if (!object->handle_) {
    const char* why = ::dlerror();
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: the native object did not load: {}", name,
                                  why ? why : "unknown reason"));
  }
  object->desc_ = static_cast<const airssys_module_desc*>(::dlsym(object->handle_, "airssys_module"));
  if (!object->desc_ || object->desc_->abi != AIRSSYS_NATIVE_ABI ||
      object->desc_->import_count != plan.imports.size() ||
      object->desc_->export_count != plan.exports.size()) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: the native object does not match the module", name));
  }
  // The object's own grow function: memory.grow routed through the host
  // grows exactly as the runtime compiled into the object does.
  object->grow_ = reinterpret_cast<GrowFn>(::dlsym(object->handle_, "wasm_rt_grow_memory"));
  if (!object->grow_) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: the native object has no memory runtime", name));
  }
  if (object->desc_->bind(&kHostApi) != 0) {
    return make_error(ErrorCode::LimitExceeded,
                      fmt::format("{}: the native object could not register its function types",
                                  name));
  }
  // Built for the bounds checks of this engine (they are part of the key;
  // this only fails closed), and with guard pages, its code known to the
  // fault handler.
  void* fault_entry = ::dlsym(object->handle_, "airssys_memory_fault");
  if ((fault_entry != nullptr) != guard_pages) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: the native object was not built for {} bounds checks",
                                  name, guard_pages ? "guard-page" : "explicit"));
  }
  if (guard_pages) {
    CodeSearch search{reinterpret_cast<uintptr_t>(fault_entry)};
    ::dl_iterate_phdr(find_code_segment, &search);
    object->code_handle_ =
        search.begin ? register_code(search.begin, search.end, search.address) : std::nullopt;
    if (!object->code_handle_) {
      return make_error(ErrorCode::LimitExceeded,
                        fmt::format("{}: the native object's code could not be registered for "
                                    "the fault handler",
                                    name));
    }
  }
  Dl_info where{};
  if (::dladdr(object->desc_, &where) != 0 && where.dli_fbase) {
    std::vector<detail::NativeFrames::Entry> code;
    for (const airssys_code_entry* e = object->desc_->code; e && e->address; ++e) {
      code.push_back({reinterpret_cast<uintptr_t>(e->address), e->function, e->glue != 0});
    }
    object->frames_ = detail::NativeFrames::read(
        bytes, reinterpret_cast<uintptr_t>(where.dli_fbase), code);
  }
  return object;
}

}  // namespace airssys::wasm::engine::native
