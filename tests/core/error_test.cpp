#include <gtest/gtest.h>

#include <memory>
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

Result<int> quarter_bound(int v) {
  AIRSSYS_TRY_ASSIGN(auto h, half(v));
  AIRSSYS_TRY_ASSIGN(const int q, half(h));
  return q;
}

TEST(ErrorTable, TryAssignDeclaresTheValueOrPropagates) {
  EXPECT_EQ(quarter_bound(8).value(), 2);
  EXPECT_EQ(quarter_bound(7).error().message, "odd");
  EXPECT_EQ(quarter_bound(6).error().message, "odd");  // the second bind fails
}

Result<int> eighth_into_existing(int v) {
  int n = v;
  AIRSSYS_TRY_ASSIGN(n, half(n));
  AIRSSYS_TRY_ASSIGN(n, half(n));
  AIRSSYS_TRY_ASSIGN(n, half(n));
  return n;
}

TEST(ErrorTable, TryAssignAssignsAnExistingVariableOrPropagates) {
  EXPECT_EQ(eighth_into_existing(16).value(), 2);
  EXPECT_EQ(eighth_into_existing(12).error().message, "odd");
}

Result<int> counted(int& calls, int v) {
  ++calls;
  return half(v);
}

Result<int> twice_counted(int& calls, int v) {
  AIRSSYS_TRY_ASSIGN(auto h, counted(calls, v));
  return h;
}

TEST(ErrorTable, TryAssignEvaluatesItsExpressionOnce) {
  int calls = 0;
  EXPECT_EQ(twice_counted(calls, 4).value(), 2);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(twice_counted(calls, 5).has_value());
  EXPECT_EQ(calls, 2);
}

Result<std::unique_ptr<int>> boxed(int v) {
  if (v < 0) return make_error(ErrorCode::InvalidArgument, "negative");
  return std::make_unique<int>(v);
}

Result<int> unboxed(int v) {
  AIRSSYS_TRY_ASSIGN(std::unique_ptr<int> box, boxed(v));  // moves: the type cannot be copied
  return *box + 1;
}

TEST(ErrorTable, TryAssignMovesTheValue) {
  EXPECT_EQ(unboxed(41).value(), 42);
  EXPECT_EQ(unboxed(-1).error().code, ErrorCode::InvalidArgument);
}

// Where the frames of the failing call's backtrace live, to tell a moved error
// (same storage) from a copied one (new storage).
const std::string* g_frames = nullptr;

Result<std::string> trapping() {
  Error e{ErrorCode::TrapUnreachable, "unreachable executed", {"m!inner", "m!outer"}, 0};
  g_frames = e.backtrace.data();
  return std::unexpected(std::move(e));
}

Result<size_t> through_try() {
  AIRSSYS_TRY(trapping());
  return 0;
}

Result<size_t> through_try_assign() {
  AIRSSYS_TRY_ASSIGN(auto text, trapping());
  return text.size();
}

TEST(ErrorTable, BothFormsMoveTheErrorWithItsBacktrace) {
  for (auto* f : {&through_try, &through_try_assign}) {
    g_frames = nullptr;
    Result<size_t> r = f();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable);
    EXPECT_EQ(r.error().backtrace, (std::vector<std::string>{"m!inner", "m!outer"}));
    EXPECT_EQ(r.error().backtrace.data(), g_frames);
  }
}

std::expected<int, int> parse_digit(char c) {
  if (c < '0' || c > '9') return std::unexpected(22);
  return c - '0';
}

// An errno that is the function's result, not its error.
Result<int> errno_result(int errno_value) { return -errno_value; }

Result<int> digit_or_errno(char c) {
  AIRSSYS_TRY_ASSIGN_OR_RETURN(int d, parse_digit(c), errno_result);
  return d * 10;
}

TEST(ErrorTable, TryAssignOrReturnHandsTheErrorToItsWrapper) {
  EXPECT_EQ(digit_or_errno('4').value(), 40);
  EXPECT_EQ(digit_or_errno('x').value(), -22);
}

TEST(ErrorTable, OfMakesAnErrorWithNoBacktraceAndNoExitStatus) {
  Error e = Error::of(ErrorCode::QuotaExceeded, "too much");
  EXPECT_EQ(e.code, ErrorCode::QuotaExceeded);
  EXPECT_EQ(e.message, "too much");
  EXPECT_TRUE(e.backtrace.empty());
  EXPECT_EQ(e.exit_status, 0);
  EXPECT_EQ(make_error(ErrorCode::NotFound, "gone").error().message, "gone");
}

}  // namespace
}  // namespace airssys::wasm
