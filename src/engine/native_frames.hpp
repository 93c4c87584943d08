#pragma once
// Where the code of each function a natively compiled module defines lies in
// its loaded object, so that a trap's return addresses name guest functions:
// the native tier's backtrace. Read from the object's ELF symbol table, which
// also names the parts the C compiler moved away from a function's entry
// (NAME.cold, NAME.part.N, NAME.constprop.N, ...).

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace airssys::wasm::engine::detail {

class NativeFrames {
 public:
  // Where code of a defined function (by its index among them) begins.
  struct Entry {
    uintptr_t address;
    uint32_t function;
    bool glue = false;  // the export glue that calls the function
  };
  struct Frame {
    uint32_t function;
    bool glue;
  };

  NativeFrames() = default;
  // `object`: the shared object's bytes; `base`: the address it was loaded
  // at; `code`: the functions' entries. Anything unreadable leaves those
  // functions unmapped (their frames are left out), never more.
  [[nodiscard]] static NativeFrames read(std::span<const uint8_t> object, uintptr_t base,
                                         std::span<const Entry> code);
  // The defined function whose code (or export glue) holds `address`.
  [[nodiscard]] std::optional<Frame> function_at(uintptr_t address) const;
  [[nodiscard]] size_t size() const { return ranges_.size(); }

 private:
  struct Range {
    uintptr_t begin;
    uintptr_t end;
    Frame frame;
  };
  std::vector<Range> ranges_;  // sorted by begin
};

}  // namespace airssys::wasm::engine::detail
