# airssys_add_component(<name> OUTPUT <file.wasm> (SOURCES <c files...> | WAT <file.wat>)
#                       [COMMAND] [CFLAGS <flags...>] [LDFLAGS <flags...>] [DEPENDS <files...>])
#
# Builds a WebAssembly component: C sources with clang --target=wasm32-wasi against
# wasi-libc and the C SDK header (airssys.h), or a .wat file with wat2wasm. Adds a
# target <name> that produces OUTPUT. DEPENDS names further files (headers of the
# sources) whose change rebuilds it.
#
# C sources are linked as a reactor (-mexec-model=reactor): a component that
# exports airssys_init, airssys_handle_message, ... and has no main(), as
# `airssys-wasm up`, `serve` and the embedding API run it. COMMAND links a WASI
# command instead: a program with main(), run once by `airssys-wasm run`.
#
# The same file is installed with the package: after find_package(airssys-wasm)
# the function is there, with the installed airssys.h. clang and wat2wasm are
# looked for when a component first needs them.

if(NOT AIRSSYS_SDK_INCLUDE_DIR)
  set(AIRSSYS_SDK_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/../sdk/c CACHE INTERNAL "")
endif()

function(airssys_add_component name)
  cmake_parse_arguments(ARG "COMMAND" "OUTPUT;WAT" "SOURCES;CFLAGS;LDFLAGS;DEPENDS" ${ARGN})
  if(NOT ARG_OUTPUT)
    message(FATAL_ERROR "airssys_add_component(${name}): OUTPUT is required")
  endif()
  get_filename_component(out_dir ${ARG_OUTPUT} DIRECTORY)
  if(ARG_WAT)
    find_program(AIRSSYS_WAT2WASM wat2wasm REQUIRED)
    get_filename_component(wat ${ARG_WAT} ABSOLUTE)
    add_custom_command(
      OUTPUT ${ARG_OUTPUT}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${AIRSSYS_WAT2WASM} --debug-names ${wat} -o ${ARG_OUTPUT}
      DEPENDS ${wat}
      COMMENT "wat2wasm ${name}"
      VERBATIM)
  elseif(ARG_SOURCES)
    find_program(AIRSSYS_WASM_CLANG NAMES clang clang-14 REQUIRED)
    set(srcs)
    foreach(s ${ARG_SOURCES})
      get_filename_component(abs ${s} ABSOLUTE)
      list(APPEND srcs ${abs})
    endforeach()
    set(deps)
    foreach(d ${ARG_DEPENDS})
      get_filename_component(abs ${d} ABSOLUTE)
      list(APPEND deps ${abs})
    endforeach()
    set(exec_model -mexec-model=reactor)
    if(ARG_COMMAND)
      set(exec_model -mexec-model=command)
    endif()
    add_custom_command(
      OUTPUT ${ARG_OUTPUT}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
      COMMAND ${AIRSSYS_WASM_CLANG} --target=wasm32-wasi ${exec_model} -O2 -g0 -Wall -Wextra
              -Werror -I${AIRSSYS_SDK_INCLUDE_DIR} ${ARG_CFLAGS} ${srcs} ${ARG_LDFLAGS}
              -o ${ARG_OUTPUT}
      DEPENDS ${srcs} ${deps} ${AIRSSYS_SDK_INCLUDE_DIR}/airssys.h
      COMMENT "clang --target=wasm32-wasi ${name}"
      VERBATIM)
  else()
    message(FATAL_ERROR "airssys_add_component(${name}): give SOURCES or WAT")
  endif()
  add_custom_target(${name} ALL DEPENDS ${ARG_OUTPUT})
endfunction()
