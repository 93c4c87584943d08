# `cmake --install` lays out a package that find_package(airssys-wasm) finds:
# the layer libraries as airssys::<layer> (airssys::system links everything an
# embedding application needs), the public headers, the airssys-wasm command
# and, for components, the SDK header and airssys_add_component()
# (cmake/AirssysComponent.cmake).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_airssys_layers core engine cm security storage actor host component lattice system)
set(_airssys_targets)
foreach(layer IN LISTS _airssys_layers)
  set_target_properties(airssys_${layer} PROPERTIES EXPORT_NAME ${layer})
  list(APPEND _airssys_targets airssys_${layer})
endforeach()
target_include_directories(airssys_core PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

install(TARGETS ${_airssys_targets} EXPORT airssys-wasmTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS airssys-wasm RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/airssys DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/sdk/c/airssys.h ${PROJECT_SOURCE_DIR}/sdk/c/airssys_world.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/airssys/sdk)

set(_airssys_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/airssys-wasm)
set(AIRSSYS_SDK_INSTALL_DIR ${CMAKE_INSTALL_INCLUDEDIR}/airssys/sdk)
install(EXPORT airssys-wasmTargets NAMESPACE airssys:: DESTINATION ${_airssys_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/airssys-wasmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/airssys-wasmConfig.cmake INSTALL_DESTINATION ${_airssys_cmake_dir}
  PATH_VARS AIRSSYS_SDK_INSTALL_DIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/airssys-wasmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/airssys-wasmConfig.cmake
              ${PROJECT_BINARY_DIR}/airssys-wasmConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/AirssysComponent.cmake
        DESTINATION ${_airssys_cmake_dir})
