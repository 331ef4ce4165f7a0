# Install rules of libmpsync: the library, its public headers, the CMake package and mpsync.pc.
# SPDX-License-Identifier: Apache-2.0
include(CMakePackageConfigHelpers)

set(MPSYNC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mpsync)

install(TARGETS mpsync EXPORT mpsyncTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Every header under include/mpsync is public, so a new one needs no change here.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mpsync DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/mpsync/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mpsync)

# A static libmpsync leaves its dependencies to the app's link: the package finds them again
# (mpsyncConfig.cmake) and the .pc lists them as private. A shared one needs nothing of them.
if(MPSYNC_TYPE STREQUAL "STATIC_LIBRARY")
  set(MPSYNC_STATIC 1)
else()
  set(MPSYNC_STATIC 0)
endif()

install(EXPORT mpsyncTargets NAMESPACE mpsync:: DESTINATION ${MPSYNC_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/mpsyncConfig.cmake.in
  ${PROJECT_BINARY_DIR}/mpsyncConfig.cmake INSTALL_DESTINATION ${MPSYNC_CMAKE_DIR})
# 0.x: a minor release may change the API (docs/API_STABILITY.md), so only patch releases of
# the requested minor version are accepted.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mpsyncConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mpsyncConfig.cmake ${PROJECT_BINARY_DIR}/mpsyncConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/FindMbedTLS.cmake DESTINATION ${MPSYNC_CMAKE_DIR})

# pkg-config: prefix from ${pcfiledir}, so that `cmake --install --prefix DIR` may pick any place.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(MPSYNC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(MPSYNC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH up /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
  string(REGEX REPLACE "/$" "" up "${up}")
  set(MPSYNC_PC_PREFIX "\${pcfiledir}/${up}")
  set(MPSYNC_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(MPSYNC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(MPSYNC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/mpsync.pc.in ${PROJECT_BINARY_DIR}/mpsync.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mpsync.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
