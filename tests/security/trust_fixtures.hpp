#pragma once
// Helpers shared by the signing, trust and approval tests.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "../support/temp_dir.hpp"

namespace airssys::wasm::security::testing {

using airssys::wasm::test::TempDir;

inline void write_file(const std::filesystem::path& file, std::string_view contents) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << file;
}

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline unsigned file_mode(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return 0xFFFF;
  return static_cast<unsigned>(st.st_mode & 07777);
}

}  // namespace airssys::wasm::security::testing
