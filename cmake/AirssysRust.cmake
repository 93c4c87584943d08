# Components of the airssys world written in Rust against the crate sdk/rust
# (docs/guide-rust.md). The Rust of the distribution builds them offline:
# Debian's rustc and cargo (1.63 or later) with the wasm32-wasi standard
# library (packages rustc, cargo, libstd-rust-dev-wasm32; scripts/setup.sh
# installs them). The programs are called by their paths, so a Rust of
# another origin on PATH is not used by mistake.
#
# After include(AirssysRust):
#   AIRSSYS_RUST    TRUE when Rust components can be built here
#   AIRSSYS_CARGO, AIRSSYS_RUSTC, AIRSSYS_RUSTDOC  the programs (cache variables)
#
# airssys_rust_component(<name> CRATE <dir> OUTPUT <component.wasm>
#                        [WIT <file.wit>] [WORLD <world>])
#   builds the crate in <dir> (a `cdylib`, its Cargo.lock committed beside
#   its Cargo.toml) with
#     cargo build --offline --locked --release --target wasm32-wasi
#   into the build tree (target directory <build>/rust/target, CARGO_HOME
#   <build>/rust/cargo-home: nothing is written outside the build tree), then
#   makes a component of the world of it with airssys_jco_world (the world's
#   type embedded, then `jco new --wasi-reactor`). Adds the target <name>,
#   built by default, and <name>_core for the core module alone.
#   Without Rust, or without jco, it adds nothing: configure says so once and
#   the tests that need the components skip with that reason.
#
# airssys_rust_test(<name> CRATE <dir> [LABELS <labels...>])
#   adds the test <name>: `cargo test --offline --locked` of the crate on the
#   build machine (its logic without a host), when Rust is there.

include(AirssysJco)

set(AIRSSYS_CARGO /usr/bin/cargo CACHE FILEPATH "cargo that builds the Rust components")
set(AIRSSYS_RUSTC /usr/bin/rustc CACHE FILEPATH "rustc that builds the Rust components")
set(AIRSSYS_RUSTDOC /usr/bin/rustdoc CACHE FILEPATH "rustdoc for the Rust crates' doc tests")
set(AIRSSYS_RUST_DIR ${PROJECT_BINARY_DIR}/rust)

set(AIRSSYS_RUST FALSE)
set(_airssys_rust_missing "")
if(NOT EXISTS ${AIRSSYS_CARGO} OR NOT EXISTS ${AIRSSYS_RUSTC})
  set(_airssys_rust_missing "${AIRSSYS_CARGO} or ${AIRSSYS_RUSTC} is not installed (scripts/setup.sh installs them)")
else()
  execute_process(COMMAND ${AIRSSYS_RUSTC} --target wasm32-wasi --print target-libdir
                  OUTPUT_VARIABLE _airssys_rust_libdir OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _airssys_rust_rc ERROR_QUIET)
  set(_airssys_rust_std "")
  if(_airssys_rust_rc EQUAL 0 AND IS_DIRECTORY "${_airssys_rust_libdir}")
    file(GLOB _airssys_rust_std "${_airssys_rust_libdir}/libstd-*.rlib")
  endif()
  execute_process(COMMAND ${AIRSSYS_RUSTC} --version OUTPUT_VARIABLE _airssys_rust_version
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT _airssys_rust_std)
    set(_airssys_rust_missing
        "${_airssys_rust_version} has no wasm32-wasi standard library (package libstd-rust-dev-wasm32)")
  elseif(NOT AIRSSYS_JCO)
    set(_airssys_rust_missing "jco is not installed, which makes components of them")
  endif()
endif()
if(_airssys_rust_missing)
  message(STATUS "Rust components: skipped, ${_airssys_rust_missing}")
else()
  set(AIRSSYS_RUST TRUE)
  message(STATUS "Rust components: ${_airssys_rust_version}, target wasm32-wasi")
endif()
# The reason the tests give when they skip.
set(AIRSSYS_RUST_MISSING "${_airssys_rust_missing}")

# The environment of every cargo run: the chosen rustc, a CARGO_HOME in the
# build tree, no network, and warnings as errors, as for the C and C++ code.
set(_airssys_cargo_env ${CMAKE_COMMAND} -E env CARGO_HOME=${AIRSSYS_RUST_DIR}/cargo-home
    RUSTC=${AIRSSYS_RUSTC} RUSTDOC=${AIRSSYS_RUSTDOC} CARGO_NET_OFFLINE=true RUSTFLAGS=-Dwarnings)

function(airssys_rust_component name)
  cmake_parse_arguments(ARG "" "CRATE;OUTPUT;WIT;WORLD" "" ${ARGN})
  if(NOT ARG_CRATE OR NOT ARG_OUTPUT)
    message(FATAL_ERROR "airssys_rust_component(${name}): CRATE and OUTPUT are required")
  endif()
  if(NOT AIRSSYS_RUST)
    return()
  endif()
  get_filename_component(crate ${ARG_CRATE} ABSOLUTE)
  # The crate's name gives the artifact's: `echo-app` builds echo_app.wasm.
  file(STRINGS ${crate}/Cargo.toml crate_name REGEX "^name *= *\"[^\"]+\"" LIMIT_COUNT 1)
  string(REGEX REPLACE "^name *= *\"([^\"]+)\".*" "\\1" crate_name "${crate_name}")
  if(NOT crate_name)
    message(FATAL_ERROR "airssys_rust_component(${name}): ${crate}/Cargo.toml names no package")
  endif()
  string(REPLACE "-" "_" artifact ${crate_name})
  set(target_dir ${AIRSSYS_RUST_DIR}/target)
  set(core ${target_dir}/wasm32-wasi/release/${artifact}.wasm)
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${crate}/src/*.rs ${PROJECT_SOURCE_DIR}/sdk/rust/src/*.rs)
  add_custom_command(
    OUTPUT ${core}
    COMMAND ${_airssys_cargo_env} ${AIRSSYS_CARGO} build --offline --locked --release --quiet
            --target wasm32-wasi --manifest-path ${crate}/Cargo.toml --target-dir ${target_dir}
    DEPENDS ${sources} ${crate}/Cargo.toml ${crate}/Cargo.lock ${PROJECT_SOURCE_DIR}/sdk/rust/Cargo.toml
    COMMENT "cargo build --target wasm32-wasi ${crate_name}"
    VERBATIM)
  add_custom_target(${name}_core DEPENDS ${core})
  set(world_args)
  if(ARG_WIT)
    list(APPEND world_args WIT ${ARG_WIT})
  endif()
  if(ARG_WORLD)
    list(APPEND world_args WORLD ${ARG_WORLD})
  endif()
  airssys_jco_world(${name} MODULE ${core} OUTPUT ${ARG_OUTPUT} ${world_args} DEPENDS ${name}_core)
endfunction()

function(airssys_rust_test name)
  cmake_parse_arguments(ARG "" "CRATE" "LABELS" ${ARGN})
  if(NOT ARG_CRATE)
    message(FATAL_ERROR "airssys_rust_test(${name}): CRATE is required")
  endif()
  if(NOT AIRSSYS_RUST)
    return()
  endif()
  get_filename_component(crate ${ARG_CRATE} ABSOLUTE)
  add_test(NAME ${name}
    COMMAND ${_airssys_cargo_env} ${AIRSSYS_CARGO} test --offline --locked --quiet
            --manifest-path ${crate}/Cargo.toml --target-dir ${AIRSSYS_RUST_DIR}/host-target)
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600)
endfunction()
