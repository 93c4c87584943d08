// Strings across the canonical ABI: UTF-8, UTF-16 and latin1+UTF-16 in guest
// memory, always UTF-8 in a Val, transcoded on the way in and out
// (CanonicalABI.md, load_string and store_string).

#include <cstring>

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {
namespace detail {

Result<char32_t> next_utf8(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 1, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return trap(fmt::format("invalid utf-8: byte 0x{:02x} at offset {}", c, i));
  }
  for (size_t k = 1; k <= n; ++k) {
    if (i + k >= s.size())
      return trap(fmt::format("invalid utf-8: incomplete utf-8 byte sequence at offset {}", i));
    auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80)
      return trap(fmt::format("invalid utf-8: byte 0x{:02x} at offset {}", d, i + k));
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return trap(fmt::format("invalid utf-8: bad sequence at offset {}", i));
  i += n + 1;
  return cp;
}

Result<void> validate_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    // ASCII runs, eight bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    if (i >= s.size()) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    auto c = next_utf8(s, i);
    if (!c) return std::unexpected(c.error());
  }
  return {};
}

Result<std::u32string> decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = next_utf8(s, i);
    if (!c) return std::unexpected(c.error());
    out.push_back(*c);
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::u16string encode_utf16(std::u32string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x10000) {
      out.push_back(static_cast<char16_t>(c));
    } else {
      c -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 | (c >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 | (c & 0x3FF)));
    }
  }
  return out;
}

}  // namespace detail

namespace {

using detail::trap;

// UTF-16LE bytes to UTF-8; an unpaired surrogate is a trap.
Result<std::string> utf16_to_utf8(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t units = bytes.size() / 2;
  auto unit = [&](size_t i) {
    return static_cast<char32_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  };
  for (size_t i = 0; i < units; ++i) {
    char32_t c = unit(i);
    if (c >= 0xD800 && c <= 0xDBFF) {
      char32_t low = i + 1 < units ? unit(i + 1) : 0;
      if (low < 0xDC00 || low > 0xDFFF)
        return trap(fmt::format("invalid utf-16: unpaired surrogate 0x{:04x} at code unit {}",
                                static_cast<uint32_t>(c), i));
      c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
      ++i;
    } else if (c >= 0xDC00 && c <= 0xDFFF) {
      return trap(fmt::format("invalid utf-16: unpaired surrogate 0x{:04x} at code unit {}",
                              static_cast<uint32_t>(c), i));
    }
    detail::append_utf8(out, c);
  }
  return out;
}

std::string latin1_to_utf8(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (uint8_t b : bytes) detail::append_utf8(out, b);
  return out;
}

void write_utf16(std::span<uint8_t> mem, uint32_t ptr, std::u16string_view units) {
  for (size_t i = 0; i < units.size(); ++i) {
    mem[ptr + 2 * i] = static_cast<uint8_t>(units[i]);
    mem[ptr + 2 * i + 1] = static_cast<uint8_t>(units[i] >> 8);
  }
}

}  // namespace

Result<std::string> load_string_from_range(LiftLowerContext& cx, uint32_t ptr,
                                           uint32_t tagged_code_units) {
  enum class Src { Utf8, Utf16, Latin1 } src = Src::Utf8;
  uint32_t align = 1;
  uint64_t byte_length = tagged_code_units;
  switch (cx.opts.encoding) {
    case StringEncoding::Utf8: break;
    case StringEncoding::Utf16:
      src = Src::Utf16, align = 2, byte_length = 2 * uint64_t{tagged_code_units};
      break;
    case StringEncoding::Latin1Utf16:
      align = 2;
      if (tagged_code_units & kUtf16Tag) {
        src = Src::Utf16, byte_length = 2 * uint64_t{tagged_code_units ^ kUtf16Tag};
      } else {
        src = Src::Latin1;
      }
      break;
  }
  if (byte_length > kMaxStringByteLength)
    return trap(fmt::format("string byte length {} exceeds the limit of {}", byte_length,
                            kMaxStringByteLength));
  AIRSSYS_TRY(detail::check_range(cx, ptr, byte_length, align, "string content"));
  auto mem = detail::memory_of(cx);
  if (!mem) return std::unexpected(mem.error());
  auto bytes = mem->subspan(ptr, static_cast<size_t>(byte_length));
  switch (src) {
    case Src::Utf8: {
      std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      AIRSSYS_TRY(detail::validate_utf8(text));
      return std::string(text);
    }
    case Src::Utf16: return utf16_to_utf8(bytes);
    case Src::Latin1: return latin1_to_utf8(bytes);
  }
  return trap("unknown string encoding");
}

Result<std::pair<uint32_t, uint32_t>> store_string_into_range(LiftLowerContext& cx,
                                                              std::string_view utf8) {
  if (utf8.size() > kMaxStringByteLength)
    return detail::bad_value(fmt::format("string of {} bytes exceeds the limit of {}",
                                         utf8.size(), kMaxStringByteLength));
  // The Val's string is UTF-8: its code units are its bytes.
  auto src_code_units = static_cast<uint32_t>(utf8.size());
  if (cx.opts.encoding == StringEncoding::Utf8) {
    if (auto valid = detail::validate_utf8(utf8); !valid)
      return detail::bad_value("string value: " + valid.error().message);
  }
  std::u32string code_points;
  if (cx.opts.encoding != StringEncoding::Utf8) {
    auto decoded = detail::decode_utf8(utf8);
    if (!decoded) return detail::bad_value("string value: " + decoded.error().message);
    code_points = std::move(*decoded);
  }

  switch (cx.opts.encoding) {
    case StringEncoding::Utf8: {
      auto ptr = detail::reallocate(cx, 0, 0, 1, src_code_units);
      if (!ptr) return std::unexpected(ptr.error());
      auto mem = detail::memory_of(cx);
      if (!mem) return std::unexpected(mem.error());
      if (!utf8.empty()) std::memcpy(mem->data() + *ptr, utf8.data(), utf8.size());
      return std::pair{*ptr, src_code_units};
    }
    case StringEncoding::Utf16: {
      uint32_t worst_case_size = 2 * src_code_units;
      auto ptr = detail::reallocate(cx, 0, 0, 2, worst_case_size);
      if (!ptr) return std::unexpected(ptr.error());
      std::u16string encoded = detail::encode_utf16(code_points);
      auto mem = detail::memory_of(cx);
      if (!mem) return std::unexpected(mem.error());
      write_utf16(*mem, *ptr, encoded);
      auto length = static_cast<uint32_t>(2 * encoded.size());
      uint32_t at = *ptr;
      if (length < worst_case_size) {
        auto shrunk = detail::reallocate(cx, at, worst_case_size, 2, length);
        if (!shrunk) return std::unexpected(shrunk.error());
        at = *shrunk;
      }
      return std::pair{at, static_cast<uint32_t>(encoded.size())};
    }
    case StringEncoding::Latin1Utf16: break;
  }

  // latin1+utf16: Latin-1 while every code point fits, else inflate to UTF-16.
  auto first = detail::reallocate(cx, 0, 0, 2, src_code_units);
  if (!first) return std::unexpected(first.error());
  uint32_t ptr = *first;
  uint32_t dst_byte_length = 0;
  for (char32_t c : code_points) {
    if (c < 0x100) {
      auto mem = detail::memory_of(cx);
      if (!mem) return std::unexpected(mem.error());
      (*mem)[ptr + dst_byte_length] = static_cast<uint8_t>(c);
      ++dst_byte_length;
      continue;
    }
    uint32_t worst_case_size = 2 * src_code_units;
    auto grown = detail::reallocate(cx, ptr, src_code_units, 2, worst_case_size);
    if (!grown) return std::unexpected(grown.error());
    ptr = *grown;
    auto mem = detail::memory_of(cx);
    if (!mem) return std::unexpected(mem.error());
    for (uint32_t j = dst_byte_length; j-- > 0;) {
      (*mem)[ptr + 2 * j] = (*mem)[ptr + j];
      (*mem)[ptr + 2 * j + 1] = 0;
    }
    std::u16string encoded = detail::encode_utf16(code_points);
    write_utf16(*mem, ptr + 2 * dst_byte_length,
                std::u16string_view(encoded).substr(dst_byte_length));
    auto length = static_cast<uint32_t>(2 * encoded.size());
    if (worst_case_size > length) {
      auto shrunk = detail::reallocate(cx, ptr, worst_case_size, 2, length);
      if (!shrunk) return std::unexpected(shrunk.error());
      ptr = *shrunk;
    }
    return std::pair{ptr, static_cast<uint32_t>(encoded.size()) | kUtf16Tag};
  }
  if (dst_byte_length < src_code_units) {
    auto shrunk = detail::reallocate(cx, ptr, src_code_units, 2, dst_byte_length);
    if (!shrunk) return std::unexpected(shrunk.error());
    ptr = *shrunk;
  }
  return std::pair{ptr, dst_byte_length};
}

}  // namespace airssys::wasm::cm
