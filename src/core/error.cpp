#include "airssys/wasm/core/error.hpp"

#include <array>

namespace airssys::wasm {
namespace {

struct ErrorInfo {
  std::string_view name;
  ErrorCategory category;
  std::string_view message;
};

constexpr std::array kErrors = {
#define AIRSSYS_X(name, category, message) ErrorInfo{#name, ErrorCategory::category, message},
    AIRSSYS_ERROR_CODES(AIRSSYS_X)
#undef AIRSSYS_X
};

const ErrorInfo& info(ErrorCode code) {
  auto i = static_cast<size_t>(code);
  return i < kErrors.size() ? kErrors[i] : kErrors[static_cast<size_t>(ErrorCode::InternalError)];
}

}  // namespace

std::string_view error_code_name(ErrorCode code) { return info(code).name; }
std::string_view error_code_message(ErrorCode code) { return info(code).message; }
ErrorCategory error_category(ErrorCode code) { return info(code).category; }

std::string_view error_category_name(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::Usage: return "usage";
    case ErrorCategory::Io: return "io";
    case ErrorCategory::Decode: return "decode";
    case ErrorCategory::Validate: return "validate";
    case ErrorCategory::Link: return "link";
    case ErrorCategory::Trap: return "trap";
    case ErrorCategory::Exit: return "exit";
    case ErrorCategory::Capability: return "capability";
    case ErrorCategory::Quota: return "quota";
    case ErrorCategory::Trust: return "trust";
    case ErrorCategory::Actor: return "actor";
    case ErrorCategory::Internal: return "internal";
  }
  return "internal";
}

std::string Error::to_string() const {
  std::string out;
  out += error_category_name(category());
  out += " error ";
  out += error_code_name(code);
  out += ": ";
  out += message.empty() ? std::string(error_code_message(code)) : message;
  for (const auto& frame : backtrace) {
    out += "\n  at ";
    out += frame;
  }
  return out;
}

}  // namespace airssys::wasm
