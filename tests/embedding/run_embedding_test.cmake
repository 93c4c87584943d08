# Installs the build into a fresh prefix, configures and builds the embedding
# application against it with find_package(airssys-wasm), builds the counter
# component from C with the installed airssys_add_component(), and runs the
# application on it. Variables: BINARY_DIR, SOURCE_DIR, WORK_DIR,
# COUNTER_SOURCE, BUILD_TYPE, CXX_FLAGS, LINK_FLAGS.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix)
if(NOT EXISTS ${WORK_DIR}/prefix/lib/cmake/airssys-wasm/airssys-wasmConfig.cmake)
  message(FATAL_ERROR "the install has no airssys-wasmConfig.cmake")
endif()
step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/embedding -B ${WORK_DIR}/build -G Ninja
     -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
     "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
     -DCOUNTER_SOURCE=${COUNTER_SOURCE})
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)

# A component folder: the counter built above and a manifest asking for its own keys.
if(NOT EXISTS ${WORK_DIR}/build/counter/component.wasm)
  message(FATAL_ERROR "the installed airssys_add_component() built no component.wasm")
endif()
file(MAKE_DIRECTORY ${WORK_DIR}/counter ${WORK_DIR}/data)
file(COPY_FILE ${WORK_DIR}/build/counter/component.wasm ${WORK_DIR}/counter/component.wasm)
file(WRITE ${WORK_DIR}/counter/Component.toml
"[component]\nname = \"counter\"\nversion = \"1.0.0\"\n\n[capabilities]\nstorage.read = [\"counter:*\"]\nstorage.write = [\"counter:*\"]\nmessaging.receive = [\"host\"]\n")
file(CHMOD ${WORK_DIR}/data DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
execute_process(COMMAND ${WORK_DIR}/build/embed_host ${WORK_DIR}/data ${WORK_DIR}/counter
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "embed_host failed (${rc})")
endif()
if(NOT out MATCHES "counter = 3")
  message(FATAL_ERROR "embed_host did not count three messages")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
