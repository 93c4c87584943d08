# Component test material made by jco, npm's WebAssembly component tools, at
# the version tools/jco/package-lock.json pins. scripts/setup.sh installs them
# into tools/jco/node_modules; only the tests use them, never the product.
#
# After include(AirssysJco):
#   AIRSSYS_JCO          the jco program, or empty when it is not installed
#   AIRSSYS_NODE         node, which runs it
#   AIRSSYS_JCO_VERSION  the pinned version (tools/jco/package.json)
#   AIRSSYS_JCO_COMMAND_ADAPTER, AIRSSYS_JCO_REACTOR_ADAPTER  the WASI preview 1
#                        adapters jco ships, checked against tools/jco/adapters.sha256
#
# airssys_jco_new(<name> MODULE <core.wasm> OUTPUT <component.wasm> [DEPENDS <targets...>])
#   wraps a WASI preview 1 command (a core module built by the build) into a
#   command component with the adapter: `jco new --wasi-command`.
# airssys_jco_parse(<name> WAT <file.wat> OUTPUT <file.wasm>)
#   assembles a component in the component text format: `jco parse`.
# airssys_jco_world(<name> MODULE <core.wasm> OUTPUT <component.wasm>
#                   [WIT <file.wit>] [WORLD <world>] [COMMAND] [DEPENDS <targets...>])
#   makes a component of the airssys world (wit/host.wit, world `component`,
#   by default) from a core module built against it (a WASI reactor whose
#   imports and exports follow the canonical ABI of that world): the world's
#   type is embedded (tools/jco/embed.mjs), then `jco new --wasi-reactor`
#   (COMMAND: a WASI command with `main`, `jco new --wasi-command`).
# Each adds a target <name> built by default. Without jco both only say so
# once and add nothing: the tests that need the files skip with that reason.
#
# A build directory configured before jco was installed finds it when CMake
# runs again (`cmake build/release`, or any change to a CMakeLists.txt).

include_guard(DIRECTORY)

set(AIRSSYS_JCO_DIR ${PROJECT_SOURCE_DIR}/tools/jco)
file(READ ${AIRSSYS_JCO_DIR}/package.json _airssys_jco_package)
string(JSON AIRSSYS_JCO_VERSION GET "${_airssys_jco_package}" dependencies @bytecodealliance/jco)
set(_airssys_jco_home ${AIRSSYS_JCO_DIR}/node_modules/@bytecodealliance/jco)

find_program(AIRSSYS_NODE node)
set(AIRSSYS_JCO "")
set(_airssys_jco_missing "")
set(_airssys_jco_program ${AIRSSYS_JCO_DIR}/node_modules/.bin/jco)
if(NOT AIRSSYS_NODE)
  set(_airssys_jco_missing "node is not installed")
elseif(NOT EXISTS ${_airssys_jco_program} OR NOT EXISTS ${_airssys_jco_home}/package.json)
  set(_airssys_jco_missing "jco is not installed in tools/jco (scripts/setup.sh installs it)")
else()
  file(READ ${_airssys_jco_home}/package.json _airssys_jco_installed)
  string(JSON _airssys_jco_installed_version GET "${_airssys_jco_installed}" version)
  if(NOT _airssys_jco_installed_version STREQUAL AIRSSYS_JCO_VERSION)
    set(_airssys_jco_missing
        "tools/jco holds jco ${_airssys_jco_installed_version}, not ${AIRSSYS_JCO_VERSION} (scripts/setup.sh installs the pinned one)")
  endif()
endif()

if(_airssys_jco_missing)
  message(STATUS "Component test material: skipped, ${_airssys_jco_missing}")
else()
  set(AIRSSYS_JCO ${_airssys_jco_program})
  # The adapters decide what every component made from a core module does: a
  # different one under the same jco version is an error, not a silent change
  # of the tests.
  file(STRINGS ${AIRSSYS_JCO_DIR}/adapters.sha256 _airssys_jco_pins)
  foreach(kind COMMAND REACTOR)
    string(TOLOWER ${kind} lower)
    set(AIRSSYS_JCO_${kind}_ADAPTER_SHA256 "")
    foreach(pin IN LISTS _airssys_jco_pins)
      if(pin MATCHES "^([0-9a-f]+)  (.*wasi_snapshot_preview1\\.${lower}\\.wasm)$")
        set(AIRSSYS_JCO_${kind}_ADAPTER_SHA256 ${CMAKE_MATCH_1})
        set(AIRSSYS_JCO_${kind}_ADAPTER ${AIRSSYS_JCO_DIR}/${CMAKE_MATCH_2})
      endif()
    endforeach()
    if(NOT AIRSSYS_JCO_${kind}_ADAPTER_SHA256)
      message(FATAL_ERROR "tools/jco/adapters.sha256 names no ${lower} adapter")
    endif()
    file(SHA256 ${AIRSSYS_JCO_${kind}_ADAPTER} _airssys_jco_adapter_sha256)
    if(NOT _airssys_jco_adapter_sha256 STREQUAL AIRSSYS_JCO_${kind}_ADAPTER_SHA256)
      message(FATAL_ERROR "The WASI preview 1 ${lower} adapter of jco ${AIRSSYS_JCO_VERSION} changed:\n"
        "  ${AIRSSYS_JCO_${kind}_ADAPTER}\n  has SHA-256 ${_airssys_jco_adapter_sha256},\n"
        "  tools/jco/adapters.sha256 pins ${AIRSSYS_JCO_${kind}_ADAPTER_SHA256}.\n"
        "Reinstall with scripts/setup.sh, or pin the new adapter on purpose (docs/testing.md).")
    endif()
  endforeach()
  message(STATUS "Component test material: jco ${AIRSSYS_JCO_VERSION}, command adapter ${AIRSSYS_JCO_COMMAND_ADAPTER_SHA256}")
endif()

function(airssys_jco_new name)
  cmake_parse_arguments(ARG "" "MODULE;OUTPUT" "DEPENDS" ${ARGN})
  if(NOT ARG_MODULE OR NOT ARG_OUTPUT)
    message(FATAL_ERROR "airssys_jco_new(${name}): MODULE and OUTPUT are required")
  endif()
  if(NOT AIRSSYS_JCO)
    return()
  endif()
  get_filename_component(out_dir ${ARG_OUTPUT} DIRECTORY)
  add_custom_command(
    OUTPUT ${ARG_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CMAKE_COMMAND} -DFILE=${AIRSSYS_JCO_COMMAND_ADAPTER}
            -DSHA256=${AIRSSYS_JCO_COMMAND_ADAPTER_SHA256}
            -P ${PROJECT_SOURCE_DIR}/cmake/AirssysCheckSha256.cmake
    COMMAND ${AIRSSYS_JCO} new ${ARG_MODULE} --wasi-command -o ${ARG_OUTPUT}
    DEPENDS ${ARG_MODULE} ${AIRSSYS_JCO_COMMAND_ADAPTER} ${AIRSSYS_JCO_DIR}/adapters.sha256
    COMMENT "jco new --wasi-command ${name}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${ARG_OUTPUT})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
endfunction()

function(airssys_jco_parse name)
  cmake_parse_arguments(ARG "" "WAT;OUTPUT" "" ${ARGN})
  if(NOT ARG_WAT OR NOT ARG_OUTPUT)
    message(FATAL_ERROR "airssys_jco_parse(${name}): WAT and OUTPUT are required")
  endif()
  if(NOT AIRSSYS_JCO)
    return()
  endif()
  get_filename_component(wat ${ARG_WAT} ABSOLUTE)
  get_filename_component(out_dir ${ARG_OUTPUT} DIRECTORY)
  add_custom_command(
    OUTPUT ${ARG_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${AIRSSYS_JCO} parse ${wat} -o ${ARG_OUTPUT}
    DEPENDS ${wat}
    COMMENT "jco parse ${name}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${ARG_OUTPUT})
endfunction()

function(airssys_jco_world name)
  cmake_parse_arguments(ARG "COMMAND" "MODULE;OUTPUT;WIT;WORLD" "DEPENDS" ${ARGN})
  if(NOT ARG_MODULE OR NOT ARG_OUTPUT)
    message(FATAL_ERROR "airssys_jco_world(${name}): MODULE and OUTPUT are required")
  endif()
  set(kind REACTOR)
  if(ARG_COMMAND)
    set(kind COMMAND)
  endif()
  string(TOLOWER ${kind} kind_flag)
  if(NOT ARG_WIT)
    set(ARG_WIT ${PROJECT_SOURCE_DIR}/wit/host.wit)
  endif()
  if(NOT ARG_WORLD)
    set(ARG_WORLD component)
  endif()
  if(NOT AIRSSYS_JCO)
    return()
  endif()
  get_filename_component(out_dir ${ARG_OUTPUT} DIRECTORY)
  set(embedded ${ARG_OUTPUT}.embed.wasm)
  add_custom_command(
    OUTPUT ${ARG_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CMAKE_COMMAND} -DFILE=${AIRSSYS_JCO_${kind}_ADAPTER}
            -DSHA256=${AIRSSYS_JCO_${kind}_ADAPTER_SHA256}
            -P ${PROJECT_SOURCE_DIR}/cmake/AirssysCheckSha256.cmake
    COMMAND ${AIRSSYS_NODE} ${AIRSSYS_JCO_DIR}/embed.mjs --wit ${ARG_WIT} --world ${ARG_WORLD}
            ${ARG_MODULE} -o ${embedded}
    COMMAND ${AIRSSYS_JCO} new ${embedded} --wasi-${kind_flag} -o ${ARG_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E rm -f ${embedded}
    DEPENDS ${ARG_MODULE} ${ARG_WIT} ${AIRSSYS_JCO_DIR}/embed.mjs ${AIRSSYS_JCO_${kind}_ADAPTER}
            ${AIRSSYS_JCO_DIR}/adapters.sha256
    COMMENT "embed ${ARG_WORLD} + jco new --wasi-${kind_flag} ${name}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${ARG_OUTPUT})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
endfunction()

# airssys_jco_componentize(<name> SOURCE <app.js> OUTPUT <component.wasm>
#                          [WIT <file.wit>] [WORLD <world>] [ENABLE <features...>]
#                          [DEPENDS <files...>])
#   makes a component of the airssys world (wit/host.wit, world `component`,
#   by default) from a JavaScript module with componentize-js
#   (tools/jco/componentize.mjs): the module is evaluated at build time on
#   StarlingMonkey and snapshotted, and the world is bound to it. Without
#   ENABLE the component imports the world only; ENABLE names engine features
#   that import WASI 0.2 (stdio, random, clocks, http, fetch-event). DEPENDS:
#   other files the module imports (from its own directory). Adds a target
#   <name> built by default; without jco it only says so once and adds nothing.
function(airssys_jco_componentize name)
  cmake_parse_arguments(ARG "" "SOURCE;OUTPUT;WIT;WORLD" "ENABLE;DEPENDS" ${ARGN})
  if(NOT ARG_SOURCE OR NOT ARG_OUTPUT)
    message(FATAL_ERROR "airssys_jco_componentize(${name}): SOURCE and OUTPUT are required")
  endif()
  if(NOT ARG_WIT)
    set(ARG_WIT ${PROJECT_SOURCE_DIR}/wit/host.wit)
  endif()
  if(NOT ARG_WORLD)
    set(ARG_WORLD component)
  endif()
  if(NOT AIRSSYS_JCO)
    get_property(said GLOBAL PROPERTY _airssys_jco_componentize_said)
    if(NOT said)
      message(STATUS "JavaScript components: skipped, jco is not usable (see above)")
      set_property(GLOBAL PROPERTY _airssys_jco_componentize_said TRUE)
    endif()
    return()
  endif()
  get_filename_component(source ${ARG_SOURCE} ABSOLUTE)
  get_filename_component(out_dir ${ARG_OUTPUT} DIRECTORY)
  set(enable "")
  if(ARG_ENABLE)
    list(JOIN ARG_ENABLE "," features)
    set(enable --enable ${features})
  endif()
  add_custom_command(
    OUTPUT ${ARG_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${AIRSSYS_NODE} ${AIRSSYS_JCO_DIR}/componentize.mjs --wit ${ARG_WIT} --world ${ARG_WORLD}
            ${enable} ${source} -o ${ARG_OUTPUT}
    DEPENDS ${source} ${ARG_DEPENDS} ${ARG_WIT} ${AIRSSYS_JCO_DIR}/componentize.mjs
            ${AIRSSYS_JCO_DIR}/package-lock.json
    COMMENT "componentize-js ${name} (JavaScript, world ${ARG_WORLD})"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${ARG_OUTPUT})
endfunction()
