#pragma once
// Time as the actor runtime sees it. The thread-pool scheduler reads the steady
// clock; the deterministic scheduler keeps a virtual clock that starts at
// TimePoint{} and moves only when a test advances it.

#include <chrono>

namespace airssys::wasm::actor {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

}  // namespace airssys::wasm::actor
