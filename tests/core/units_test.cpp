#include <gtest/gtest.h>

#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm {
namespace {

TEST(ByteSize, ParsesUnitsAsPowersOf1024) {
  EXPECT_EQ(parse_byte_size("0").value(), 0u);
  EXPECT_EQ(parse_byte_size("4096").value(), 4096u);
  EXPECT_EQ(parse_byte_size("12B").value(), 12u);
  EXPECT_EQ(parse_byte_size("64KB").value(), 64 * KiB);
  EXPECT_EQ(parse_byte_size("256MB").value(), 256 * MiB);
  EXPECT_EQ(parse_byte_size("2 GB").value(), 2 * GiB);
  EXPECT_EQ(parse_byte_size("1TB").value(), TiB);
  EXPECT_EQ(parse_byte_size("8mib").value(), 8 * MiB);
}

TEST(ByteSize, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "-1", "1.5MB", "MB", "10XB", "12 parsecs", "+5", " 5"}) {
    auto r = parse_byte_size(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument) << bad;
  }
}

TEST(ByteSize, RefusesOverflow) {
  EXPECT_FALSE(parse_byte_size("18446744073709551616").has_value());
  EXPECT_FALSE(parse_byte_size("17179869184GB").has_value());
  EXPECT_TRUE(parse_byte_size("18446744073709551615").has_value());
}

TEST(ByteSize, Formats) {
  EXPECT_EQ(format_byte_size(256 * MiB), "256 MiB");
  EXPECT_EQ(format_byte_size(1000), "1000 B");
  EXPECT_EQ(format_byte_size(0), "0 B");
  EXPECT_EQ(format_byte_size(3 * GiB), "3 GiB");
}

TEST(Count, ParsesAndRefuses) {
  EXPECT_EQ(parse_count("123").value(), 123u);
  EXPECT_FALSE(parse_count("12a").has_value());
  EXPECT_FALSE(parse_count("-3").has_value());
  EXPECT_FALSE(parse_count("99999999999999999999").has_value());
}

}  // namespace
}  // namespace airssys::wasm
