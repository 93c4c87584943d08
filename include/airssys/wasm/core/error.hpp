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
  X(UnsupportedFeature, Validate, "feature past the Component Model MVP")                 \
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

  [[nodiscard]] ErrorCategory category() const { return error_category(code); }
  [[nodiscard]] bool is_trap() const { return category() == ErrorCategory::Trap; }
  // "<category> error <Name>: message", plus the backtrace lines when present.
  [[nodiscard]] std::string to_string() const;
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message), {}, 0});
}

}  // namespace airssys::wasm

// Propagates the error of a Result-returning expression; the value is dropped.
#define AIRSSYS_TRY(expr)                                        \
  do {                                                           \
    if (auto airssys_try_result_ = (expr); !airssys_try_result_) \
      return std::unexpected(std::move(airssys_try_result_).error()); \
  } while (false)
