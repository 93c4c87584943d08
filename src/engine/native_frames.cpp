#include "native_frames.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>

namespace airssys::wasm::engine::detail {

namespace {

// A T read at `offset`, when all of it lies within `bytes`.
template <typename T>
std::optional<T> read_at(std::span<const uint8_t> bytes, uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// The symbol's name from the string table, when it ends within the table.
std::string_view symbol_name(std::span<const uint8_t> strtab, uint32_t offset) {
  if (offset >= strtab.size()) return {};
  const auto* start = reinterpret_cast<const char*>(strtab.data() + offset);
  const void* nul = std::memchr(start, '\0', strtab.size() - offset);
  if (!nul) return {};
  return std::string_view(start, static_cast<const char*>(nul) - start);
}

}  // namespace

NativeFrames NativeFrames::read(std::span<const uint8_t> object, uintptr_t base,
                                std::span<const Entry> code) {
  NativeFrames out;
  auto header = read_at<Elf64_Ehdr>(object, 0);
  if (!header || std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 ||
      header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_shentsize != sizeof(Elf64_Shdr)) {
    return out;
  }
  std::span<const uint8_t> symbols, strings;
  for (uint32_t k = 0; k < header->e_shnum; ++k) {
    auto section = read_at<Elf64_Shdr>(object, header->e_shoff + uint64_t{k} * sizeof(Elf64_Shdr));
    if (!section || section->sh_type != SHT_SYMTAB) continue;
    auto link = read_at<Elf64_Shdr>(
        object, header->e_shoff + uint64_t{section->sh_link} * sizeof(Elf64_Shdr));
    if (!link || section->sh_link >= header->e_shnum) return out;
    auto within = [&](const Elf64_Shdr& s) {
      return s.sh_offset <= object.size() && object.size() - s.sh_offset >= s.sh_size;
    };
    if (!within(*section) || !within(*link)) return out;
    symbols = object.subspan(section->sh_offset, section->sh_size);
    strings = object.subspan(link->sh_offset, link->sh_size);
    break;
  }
  if (symbols.empty()) return out;

  // The entries by address, then the functions' symbols by name.
  std::unordered_map<uintptr_t, Frame> by_entry;
  for (const auto& e : code) by_entry.emplace(e.address, Frame{e.function, e.glue});
  struct Symbol {
    std::string_view name;
    uintptr_t begin;
    uint64_t size;
  };
  std::vector<Symbol> functions;
  for (uint64_t at = 0; at + sizeof(Elf64_Sym) <= symbols.size(); at += sizeof(Elf64_Sym)) {
    auto sym = read_at<Elf64_Sym>(symbols, at);
    if (!sym || ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_size == 0) continue;
    functions.push_back({symbol_name(strings, sym->st_name), base + sym->st_value, sym->st_size});
  }
  std::unordered_map<std::string_view, Frame> by_name;
  for (const auto& f : functions) {
    if (auto it = by_entry.find(f.begin); it != by_entry.end() && !f.name.empty()) {
      by_name.emplace(f.name, it->second);
    }
  }
  for (const auto& f : functions) {
    // NAME and the parts split off it: NAME.cold, NAME.part.0, ...
    auto it = by_name.find(f.name.substr(0, f.name.find('.')));
    if (it == by_name.end()) continue;
    out.ranges_.push_back({f.begin, f.begin + f.size, it->second});
  }
  std::sort(out.ranges_.begin(), out.ranges_.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  return out;
}

std::optional<NativeFrames::Frame> NativeFrames::function_at(uintptr_t address) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](uintptr_t a, const Range& r) { return a < r.begin; });
  if (it == ranges_.begin()) return std::nullopt;
  --it;
  if (address >= it->end) return std::nullopt;
  return it->frame;
}

}  // namespace airssys::wasm::engine::detail
