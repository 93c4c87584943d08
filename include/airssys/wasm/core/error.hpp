#pragma once
// The one error table of the project. Each code has a category and a fixed
// meaning; a capability denial, an exhausted quota and a guest trap never share
// a code.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace airssys::wasm {

enum class ErrorCategory : uint8_t {
  Usage,       // the caller passed something invalid (bad option, bad argument)
  Io,          // the operating system refused (file missing, unreadable)
  Decode,      // the bytes or text are not a well-formed module
  Validate,    // the module is well-formed but not valid
  Link,        // an import cannot be satisfied, or a limit refuses instantiation
  Trap,        // the guest trapped at run time
  Exit,        // the guest asked to exit (WASI proc_exit); not a failure by itself
  Capability,  // a capability check denied the operation
  Quota,       // a resource quota refused the operation
  Trust,       // trust, signature or approval refused the component
  Actor,       // the actor runtime refused: unknown or stopped actor, name taken, gave up
  Internal,    // a bug in the host; reported, never hidden
};

// X(name, category, message)
#define AIRSSYS_ERROR_CODES(X)                                                          \
  X(InvalidArgument, Usage, "invalid argument")                                         \
  X(NotFound, Usage, "not found")                                                       \
  X(IoError, Io, "input/output error")                                                  \
  X(MalformedModule, Decode, "malformed module")                                        \
  X(WatSyntax, Decode, "syntax error in WebAssembly text")                              \
  X(MalformedComponent, Decode, "malformed component")                                  \
  X(InvalidModule, Validate, "invalid module")                                          \
  X(InvalidComponent, Validate, "invalid component")                                    \
  X(UnsupportedFeature, Validate, "feature the engine does not support")                 \
  X(ModuleTooComplex, Validate, "module exceeds an implementation limit of the engine")  \
  X(UnknownImport, Link, "unknown import")                                              \
  X(IncompatibleImport, Link, "incompatible import type")                               \
  X(ReservedImport, Link, "import of a reserved engine module")                         \
  X(LimitExceeded, Link, "module exceeds an instance limit")                            \
  X(MissingExport, Link, "export not found")                                            \
  X(CompileFailed, Link, "native compilation failed")                                   \
  X(CompileLimit, Link, "module exceeds a native compile bound")                        \
  X(SignatureMismatch, Usage, "arguments do not match the function signature")          \
  X(CallInProgress, Usage, "a call is already running on this store")                   \
  X(InvalidHandle, Usage, "no such handle")                                             \
  X(InvalidTransition, Usage, "the state does not allow this transition")               \
  X(StateNotTransferable, Usage, "instance state cannot move to another instance")      \
  X(InvalidConfig, Usage, "invalid configuration file")                                 \
  X(InvalidManifest, Usage, "invalid component manifest")                               \
  X(TrapUnreachable, Trap, "unreachable executed")                                      \
  X(TrapMemoryOutOfBounds, Trap, "out of bounds memory access")                         \
  X(TrapTableOutOfBounds, Trap, "out of bounds table access")                           \
  X(TrapCallStackExhausted, Trap, "call stack exhausted")                               \
  X(TrapIntegerOverflow, Trap, "integer overflow")                                      \
  X(TrapDivideByZero, Trap, "integer divide by zero")                                   \
  X(TrapInvalidConversion, Trap, "invalid conversion to integer")                       \
  X(TrapIndirectCallMismatch, Trap, "indirect call signature mismatch")                 \
  X(TrapUninitializedElement, Trap, "uninitialized table element")                      \
  X(TrapOutOfFuel, Trap, "out of fuel")                                                 \
  X(TrapHost, Trap, "host function raised a trap")                                      \
  X(TrapCanonical, Trap, "invalid value or handle at a component boundary")              \
  X(TrapUncaughtException, Trap, "uncaught exception")                                  \
  X(TrapOther, Trap, "trap")                                                            \
  X(CallCancelled, Trap, "call cancelled before it finished")                           \
  X(ProcExit, Exit, "component exited")                                                 \
  X(CapabilityDenied, Capability, "capability denied")                                  \
  X(QuotaExceeded, Quota, "resource quota exceeded")                                    \
  X(TrustDenied, Trust, "trust refused")                                                \
  X(SignatureInvalid, Trust, "signature verification failed")                           \
  X(SignatureMissing, Trust, "component is not signed")                                 \
  X(ApprovalRequired, Trust, "component awaits an approval")                            \
  X(ApprovalQueueFull, Trust, "approval queue is full")                                 \
  X(MailboxFull, Quota, "mailbox full; retry later or drop")                            \
  X(ActorNotFound, Actor, "no actor at that address")                                   \
  X(ActorStopped, Actor, "actor is stopping or stopped")                                \
  X(ActorNameTaken, Actor, "actor name already registered")                             \
  X(SchedulerStopped, Actor, "scheduler is shut down")                                  \
  X(SupervisorGaveUp, Actor, "restart intensity exceeded; supervisor gave up")          \
  X(HostShutDown, Actor, "the host is shut down")                                       \
  X(ReplyTimeout, Actor, "no reply came within the timeout")                            \
  X(InternalError, Internal, "internal error")

enum class ErrorCode : uint16_t {
#define AIRSSYS_X(name, category, message) name,
  AIRSSYS_ERROR_CODES(AIRSSYS_X)
#undef AIRSSYS_X
};

[[nodiscard]] std::string_view error_code_name(ErrorCode code);
[[nodiscard]] std::string_view error_code_message(ErrorCode code);
[[nodiscard]] ErrorCategory error_category(ErrorCode code);
[[nodiscard]] std::string_view error_category_name(ErrorCategory category);

struct Error {
  ErrorCode code = ErrorCode::InternalError;
  std::string message;                 // what happened, for a person
  std::vector<std::string> backtrace;  // guest frames, innermost first (traps only)
  int32_t exit_status = 0;             // ProcExit only

  // The one way to make an error with no backtrace and no exit status.
  [[nodiscard]] static Error of(ErrorCode code, std::string message) {
    return Error{code, std::move(message), {}, 0};
  }

  [[nodiscard]] ErrorCategory category() const { return error_category(code); }
  [[nodiscard]] bool is_trap() const { return category() == ErrorCategory::Trap; }
  // "<category> error <Name>: message", plus the backtrace lines when present.
  [[nodiscard]] std::string to_string() const;
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return std::unexpected(Error::of(code, std::move(message)));
}

}  // namespace airssys::wasm

// Early returns for functions that return a std::expected (a Result<T>, or any
// other expected whose error converts to the function's). `expr` is evaluated
// once, into a temporary (a named Result is copied into it; hand over one that
// is no longer needed with std::move); on failure the error is moved out of
// the temporary, never copied, and returned as std::unexpected.
//
// AIRSSYS_TRY(expr): propagates the error; the value, if any, is dropped.
//
// AIRSSYS_TRY_ASSIGN(lhs, expr): propagates the error, or moves the value into
// `lhs`, which either declares a variable in the enclosing scope
// (`AIRSSYS_TRY_ASSIGN(auto module, decode(bytes));`, `const auto`, a type) or
// names one that exists (`AIRSSYS_TRY_ASSIGN(module, decode(bytes));`). The
// value is moved out of the temporary, which lives on to the end of the
// scope; `auto&& x` binds it where it lies instead (a secret wiped in place).
//
// AIRSSYS_TRY_ASSIGN_OR_RETURN(lhs, expr, wrap): the same, but on failure
// returns `wrap(error)` instead, for an error that is handed on as something
// else than the function's error (a WASI errno that is the host function's
// result, say).
//
// These are declaration macros in standard C++, not GNU statement
// expressions: a statement expression is an extension the build does not
// enable (CMAKE_CXX_EXTENSIONS is off), and a declaration covers both binding
// a new name and assigning an existing one. Each use takes its own temporary,
// so several may stand in one scope; none may be the only statement of an
// unbraced if or loop.
#define AIRSSYS_TRY(expr)                                              \
  do {                                                                 \
    if (auto airssys_try_result_ = (expr); !airssys_try_result_)       \
      return std::unexpected(std::move(airssys_try_result_).error());  \
  } while (false)

#define AIRSSYS_TRY_CONCAT_IMPL_(a, b) a##b
#define AIRSSYS_TRY_CONCAT_(a, b) AIRSSYS_TRY_CONCAT_IMPL_(a, b)

#define AIRSSYS_TRY_ASSIGN_IMPL_(tmp, lhs, expr, wrap) \
  auto tmp = (expr);                                   \
  if (!tmp) return wrap(std::move(tmp).error());       \
  lhs = *std::move(tmp)

#define AIRSSYS_TRY_ASSIGN(lhs, expr) \
  AIRSSYS_TRY_ASSIGN_IMPL_(AIRSSYS_TRY_CONCAT_(airssys_try_value_, __COUNTER__), lhs, expr, \
                           std::unexpected)

#define AIRSSYS_TRY_ASSIGN_OR_RETURN(lhs, expr, wrap) \
  AIRSSYS_TRY_ASSIGN_IMPL_(AIRSSYS_TRY_CONCAT_(airssys_try_value_, __COUNTER__), lhs, expr, wrap)
