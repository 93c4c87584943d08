#pragma once
// Checks of a trap's backtrace that hold on both tiers. Native code lists
// the frames the C compiler kept: a function inlined into its caller shows
// as the caller, so a native backtrace may be shorter than the
// interpreter's, never different in what it names.

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::testing {

// Every frame of `e` is one of `allowed`, and the outermost is `outermost`.
inline void expect_frames_within(const Error& e, std::initializer_list<std::string_view> allowed,
                                 std::string_view outermost) {
  ASSERT_FALSE(e.backtrace.empty()) << e.to_string();
  for (const auto& frame : e.backtrace) {
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), frame), allowed.end())
        << "unexpected frame " << frame << " in " << e.to_string();
  }
  EXPECT_EQ(e.backtrace.back(), outermost) << e.to_string();
}

}  // namespace airssys::wasm::testing
