#include "exceptions.hpp"

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace airssys::wasm::engine::detail {
namespace {

constexpr std::string_view kExceptionReferences =
    "exception references (exnref, throw_ref, catch_ref, catch_all_ref) are not supported: the "
    "engine runs exception handling through its legacy form, which has no equivalent of them";

// The value type exnref, as a byte and as an abstract heap type (s33).
constexpr uint8_t kExnRef = 0x69;
constexpr int64_t kExnHeapType = -0x17;

constexpr std::string_view kLegacyInstructions =
    "the legacy exception-handling instructions (try, catch, catch_all, delegate, rethrow) are "
    "not supported: exception handling is accepted in its standard form (try_table, throw)";

enum class Outcome { Same, Changed, Unreadable, Refused, Legacy };

// Reads the bytes of one function body or section; any read past its end or
// any encoding it does not know makes it !ok, and nothing is translated.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ >= bytes_.size(); }
  size_t pos() const { return pos_; }
  std::span<const uint8_t> since(size_t start) const {
    return bytes_.subspan(start, pos_ - start);
  }
  void fail() { ok_ = false; }

  uint8_t byte() {
    if (pos_ >= bytes_.size()) {
      ok_ = false;
      return 0;
    }
    return bytes_[pos_++];
  }
  uint8_t peek() const { return pos_ < bytes_.size() ? bytes_[pos_] : 0; }
  void skip(size_t n) {
    if (bytes_.size() - pos_ < n) {
      ok_ = false;
      pos_ = bytes_.size();
      return;
    }
    pos_ += n;
  }
  uint64_t u(unsigned bits = 32) {
    uint64_t value = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (shift >= bits + 7 || !ok_) {
        ok_ = false;
        return 0;
      }
      uint8_t b = byte();
      if (shift < 64) value |= uint64_t{b & 0x7Fu} << shift;
      if (!(b & 0x80)) return value;
    }
  }
  int64_t s(unsigned bits) {
    int64_t value = 0;
    unsigned shift = 0;
    uint8_t b = 0;
    do {
      if (shift >= bits + 7 || !ok_) {
        ok_ = false;
        return 0;
      }
      b = byte();
      if (shift < 64) value |= static_cast<int64_t>(uint64_t{b & 0x7Fu} << shift);
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) value |= static_cast<int64_t>(~uint64_t{0} << shift);
    return value;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void put_u32(std::vector<uint8_t>& out, uint64_t value) {
  do {
    uint8_t b = value & 0x7F;
    value >>= 7;
    if (value) b |= 0x80;
    out.push_back(b);
  } while (value);
}

// A value type; false when it is exnref (a reference to exceptions).
bool value_type(Reader& r) {
  const uint8_t b = r.byte();
  if (b == kExnRef) return false;
  if (b == 0x63 || b == 0x64) return r.s(33) != kExnHeapType;
  return true;
}

// A block type; false when it is exnref.
bool block_type(Reader& r) {
  const uint8_t b = r.peek();
  if (b == 0x40) {
    r.byte();
    return true;
  }
  if (b == 0x63 || b == 0x64 || (b & 0xC0) == 0x40) return value_type(r);
  r.s(33);  // a type index
  return true;
}

void memarg(Reader& r) {
  const uint64_t align = r.u(32);
  if (align & 0x40) r.u(32);  // multi-memory: the memory index
  r.u(64);
}

struct Clause {
  bool all = false;  // catch_all
  uint32_t tag = 0;
  uint32_t label = 0;
};

struct Open {
  bool try_table = false;
  std::vector<Clause> clauses;  // of a try_table, up to its first catch_all
};

// Translates one function body into `out`.
Outcome translate_body(std::span<const uint8_t> body, std::vector<uint8_t>& out) {
  Reader r(body);
  bool changed = false;
  const size_t locals_start = r.pos();
  for (uint64_t groups = r.u(32); r.ok() && groups > 0; --groups) {
    r.u(32);
    if (!value_type(r)) return Outcome::Refused;
  }
  if (!r.ok()) return Outcome::Unreadable;
  auto copy = [&](size_t from) {
    auto bytes = r.since(from);
    out.insert(out.end(), bytes.begin(), bytes.end());
  };
  copy(locals_start);
  std::vector<Open> open;
  while (r.ok()) {
    const size_t start = r.pos();
    const uint8_t op = r.byte();
    if (!r.ok()) break;
    switch (op) {
      case 0x06: case 0x07: case 0x09: case 0x18: case 0x19:
        // try, catch, rethrow, delegate, catch_all: the legacy form, which
        // the toolkit would take as it is, is not the standard.
        return Outcome::Legacy;
      case 0x02: case 0x03: case 0x04:  // block loop if
        if (!block_type(r)) return Outcome::Refused;
        open.push_back({});
        break;
      case 0x1F: {  // try_table
        const size_t type_start = r.pos();
        if (!block_type(r)) return Outcome::Refused;
        out.push_back(0x06);  // try
        copy(type_start);
        Open block{true, {}};
        bool after_all = false;
        for (uint64_t n = r.u(32); r.ok() && n > 0; --n) {
          Clause clause;
          switch (r.byte()) {
            case 0x00:
              clause.tag = static_cast<uint32_t>(r.u(32));
              clause.label = static_cast<uint32_t>(r.u(32));
              break;
            case 0x02:
              clause.all = true;
              clause.label = static_cast<uint32_t>(r.u(32));
              break;
            case 0x01: case 0x03:  // catch_ref, catch_all_ref
              return Outcome::Refused;
            default:
              return Outcome::Unreadable;
          }
          if (!after_all) block.clauses.push_back(clause);
          after_all = after_all || clause.all;
        }
        if (!r.ok()) return Outcome::Unreadable;
        open.push_back(std::move(block));
        changed = true;
        continue;  // written already
      }
      case 0x0B:  // end
        if (open.empty()) {
          copy(start);
          // The function's own end: it must be the last byte of the body.
          return r.done() ? (changed ? Outcome::Changed : Outcome::Same) : Outcome::Unreadable;
        }
        if (open.back().try_table) {
          for (const Clause& clause : open.back().clauses) {
            if (clause.all) {
              out.push_back(0x19);  // catch_all
            } else {
              out.push_back(0x07);  // catch
              put_u32(out, clause.tag);
            }
            out.push_back(0x0C);  // br
            put_u32(out, uint64_t{clause.label} + 1);
          }
        }
        open.pop_back();
        break;
      case 0x0A:  // throw_ref
        return Outcome::Refused;
      case 0x00: case 0x01: case 0x05: case 0x0F: case 0x1A: case 0x1B:
      case 0xD1: case 0xD3: case 0xD5:
        break;
      case 0x08: case 0x0C: case 0x0D: case 0x10: case 0x12:
      case 0x14: case 0x15: case 0x20: case 0x21: case 0x22: case 0x23: case 0x24:
      case 0x25: case 0x26: case 0x3F: case 0x40: case 0xD2: case 0xD4: case 0xD6:
        r.u(32);
        break;
      case 0x0E:  // br_table
        for (uint64_t n = r.u(32); r.ok() && n > 0; --n) r.u(32);
        r.u(32);
        break;
      case 0x11: case 0x13:  // call_indirect, return_call_indirect
        r.u(32);
        r.u(32);
        break;
      case 0x1C:  // select t*
        for (uint64_t n = r.u(32); r.ok() && n > 0; --n) {
          if (!value_type(r)) return Outcome::Refused;
        }
        break;
      case 0x41: r.s(32); break;
      case 0x42: r.s(64); break;
      case 0x43: r.skip(4); break;
      case 0x44: r.skip(8); break;
      case 0xD0: {  // ref.null ht
        const uint8_t b = r.peek();
        if (b == kExnRef) return Outcome::Refused;
        if ((b & 0xC0) == 0x40) {
          r.byte();
        } else if (r.s(33) == kExnHeapType) {
          return Outcome::Refused;
        }
        break;
      }
      case 0xFC:
        switch (r.u(32)) {
          case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: break;
          case 9: case 11: case 13: case 15: case 16: case 17: r.u(32); break;
          case 8: case 10: case 12: case 14: r.u(32); r.u(32); break;
          default: return Outcome::Unreadable;
        }
        break;
      case 0xFD: {
        const uint64_t sub = r.u(32);
        if (sub <= 11 || sub == 92 || sub == 93) {
          memarg(r);
        } else if (sub == 12 || sub == 13) {
          r.skip(16);
        } else if (sub >= 21 && sub <= 34) {
          r.byte();
        } else if (sub >= 84 && sub <= 91) {
          memarg(r);
          r.byte();
        }
        break;
      }
      case 0xFE:
        if (r.u(32) == 3) {
          r.byte();  // atomic.fence
        } else {
          memarg(r);
        }
        break;
      default:
        if (op >= 0x28 && op <= 0x3E) {
          memarg(r);
        } else if (!(op >= 0x45 && op <= 0xC4)) {
          return Outcome::Unreadable;
        }
        break;
    }
    if (!r.ok()) break;
    copy(start);
  }
  return Outcome::Unreadable;
}

// Whether a type section declares a function type with exnref in it (only
// function types are read; anything else ends the check).
bool types_use_exnref(std::span<const uint8_t> section) {
  Reader r(section);
  for (uint64_t n = r.u(32); r.ok() && n > 0; --n) {
    if (r.byte() != 0x60) return false;
    for (int list = 0; list < 2 && r.ok(); ++list) {
      for (uint64_t k = r.u(32); r.ok() && k > 0; --k) {
        if (!value_type(r)) return true;
      }
    }
  }
  return false;
}

std::unexpected<Error> refused() {
  return make_error(ErrorCode::UnsupportedFeature, std::string(kExceptionReferences));
}

}  // namespace

Result<std::optional<std::vector<uint8_t>>> translate_exceptions(std::span<const uint8_t> bytes) {
  constexpr size_t kHeader = 8;
  if (bytes.size() < kHeader) return std::nullopt;
  Reader r(bytes.subspan(kHeader));
  std::vector<uint8_t> out(bytes.begin(), bytes.begin() + kHeader);
  bool changed = false;
  while (!r.done()) {
    const size_t start = r.pos();
    const uint8_t id = r.byte();
    const uint64_t size = r.u(32);
    const size_t content = r.pos();
    r.skip(size);
    if (!r.ok()) return std::nullopt;
    auto section = bytes.subspan(kHeader + content, size);
    if (id == 1 && types_use_exnref(section)) return refused();
    if (id != 10) {
      auto whole = bytes.subspan(kHeader + start, r.pos() - start);
      out.insert(out.end(), whole.begin(), whole.end());
      continue;
    }
    Reader code(section);
    std::vector<uint8_t> bodies;
    const uint64_t count = code.u(32);
    put_u32(bodies, count);
    for (uint64_t k = 0; code.ok() && k < count; ++k) {
      const uint64_t body_size = code.u(32);
      const size_t body_start = code.pos();
      code.skip(body_size);
      if (!code.ok()) return std::nullopt;
      std::vector<uint8_t> body;
      switch (translate_body(section.subspan(body_start, body_size), body)) {
        case Outcome::Refused: return refused();
        case Outcome::Legacy:
          return make_error(ErrorCode::UnsupportedFeature, std::string(kLegacyInstructions));
        case Outcome::Unreadable: return std::nullopt;
        case Outcome::Changed: changed = true; [[fallthrough]];
        case Outcome::Same:
          put_u32(bodies, body.size());
          bodies.insert(bodies.end(), body.begin(), body.end());
          break;
      }
    }
    if (!code.ok() || !code.done()) return std::nullopt;
    out.push_back(id);
    put_u32(out, bodies.size());
    out.insert(out.end(), bodies.begin(), bodies.end());
  }
  if (!changed) return std::nullopt;
  return out;
}

}  // namespace airssys::wasm::engine::detail
