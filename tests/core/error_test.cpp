#include <gtest/gtest.h>

#include <set>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm {
namespace {

TEST(ErrorTable, EveryCodeHasANameAMessageAndACategory) {
  std::set<std::string_view> names;
#define AIRSSYS_X(name, category, message)                                   \
  EXPECT_EQ(error_code_name(ErrorCode::name), #name);                        \
  EXPECT_EQ(error_category(ErrorCode::name), ErrorCategory::category);       \
  EXPECT_FALSE(error_code_message(ErrorCode::name).empty());                 \
  names.insert(error_code_name(ErrorCode::name));
  AIRSSYS_ERROR_CODES(AIRSSYS_X)
#undef AIRSSYS_X
  EXPECT_GT(names.size(), 20u);
}

TEST(ErrorTable, DenialQuotaAndTrapNeverShareACategory) {
  EXPECT_NE(error_category(ErrorCode::CapabilityDenied), error_category(ErrorCode::QuotaExceeded));
  EXPECT_NE(error_category(ErrorCode::QuotaExceeded), error_category(ErrorCode::TrapOutOfFuel));
  EXPECT_NE(error_category(ErrorCode::CapabilityDenied), error_category(ErrorCode::TrapHost));
}

TEST(ErrorTable, ToStringCarriesCategoryCodeMessageAndBacktrace) {
  Error e{ErrorCode::TrapUnreachable, "unreachable executed", {"m!inner", "m!outer"}, 0};
  EXPECT_EQ(e.to_string(),
            "trap error TrapUnreachable: unreachable executed\n  at m!inner\n  at m!outer");
}

Result<int> half(int v) {
  if (v % 2) return make_error(ErrorCode::InvalidArgument, "odd");
  return v / 2;
}

Result<int> quarter(int v) {
  AIRSSYS_TRY(half(v));
  return *half(v) / 2;
}

TEST(ErrorTable, TryPropagates) {
  EXPECT_EQ(quarter(8).value(), 2);
  EXPECT_EQ(quarter(7).error().message, "odd");
}

}  // namespace
}  // namespace airssys::wasm
