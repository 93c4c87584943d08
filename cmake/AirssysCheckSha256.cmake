# cmake -DFILE=<path> -DSHA256=<hex> -P AirssysCheckSha256.cmake
# Fails unless FILE has that SHA-256: a pinned input that changed is noticed
# at build time, before anything is made from it.
if(NOT DEFINED FILE OR NOT DEFINED SHA256)
  message(FATAL_ERROR "AirssysCheckSha256: FILE and SHA256 are required")
endif()
file(SHA256 ${FILE} actual)
if(NOT actual STREQUAL SHA256)
  message(FATAL_ERROR "${FILE} has SHA-256 ${actual}, expected ${SHA256}")
endif()
