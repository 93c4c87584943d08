# Debian's wabt 1.0.32 headers spell two destructors as `~FreeList<T>()`, which
# C++20 and later reject. The build makes a corrected copy of that one header
# in the build tree and puts it ahead of the system copy on the include path.
set(_wabt_inl /usr/include/wabt/interp/interp-inl.h)
set(AIRSSYS_WABT_COMPAT_DIR ${CMAKE_BINARY_DIR}/wabt-compat)
if(NOT EXISTS ${_wabt_inl})
  message(FATAL_ERROR "wabt interpreter headers not found at ${_wabt_inl}")
endif()
file(READ ${_wabt_inl} _text)
string(REPLACE "::~FreeList<Ref>()" "::~FreeList()" _text "${_text}")
string(REPLACE "::~FreeList<T>()" "::~FreeList()" _text "${_text}")
file(CONFIGURE OUTPUT ${AIRSSYS_WABT_COMPAT_DIR}/wabt/interp/interp-inl.h CONTENT "${_text}" @ONLY)
