# Find module for mbedTLS releases that ship no CMake package (Debian 12's 2.28): MbedTLS::* targets.
# SPDX-License-Identifier: Apache-2.0
#
# mbedTLS 3.x builds install MbedTLSConfig.cmake with the same target names; the top CMakeLists
# tries that first. This module finds 2.x and 3.x installs alike (3.x keeps the version in
# build_info.h).
#
# Result variables: MbedTLS_FOUND, MbedTLS_VERSION, MbedTLS_INCLUDE_DIR, MbedTLS_LIBRARIES.
# Imported targets: MbedTLS::mbedtls -> MbedTLS::mbedx509 -> MbedTLS::mbedcrypto (link order).

find_path(MbedTLS_INCLUDE_DIR NAMES mbedtls/ssl.h)
find_library(MbedTLS_mbedtls_LIBRARY NAMES mbedtls)
find_library(MbedTLS_mbedx509_LIBRARY NAMES mbedx509)
find_library(MbedTLS_mbedcrypto_LIBRARY NAMES mbedcrypto)

# 2.x keeps the version in version.h, 3.x moved it to build_info.h.
set(MbedTLS_VERSION "")
foreach(h build_info.h version.h)
  set(_mbedtls_h ${MbedTLS_INCLUDE_DIR}/mbedtls/${h})
  if(MbedTLS_INCLUDE_DIR AND NOT MbedTLS_VERSION AND EXISTS ${_mbedtls_h})
    file(STRINGS ${_mbedtls_h} _mbedtls_line REGEX "^#define[ \t]+MBEDTLS_VERSION_STRING[ \t]+\"")
    if(_mbedtls_line MATCHES "\"([0-9.]+)\"")
      set(MbedTLS_VERSION ${CMAKE_MATCH_1})
    endif()
  endif()
endforeach()
unset(_mbedtls_h)
unset(_mbedtls_line)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedTLS
  REQUIRED_VARS MbedTLS_mbedtls_LIBRARY MbedTLS_mbedx509_LIBRARY MbedTLS_mbedcrypto_LIBRARY
                MbedTLS_INCLUDE_DIR
  VERSION_VAR MbedTLS_VERSION)

if(MbedTLS_FOUND)
  set(MbedTLS_LIBRARIES ${MbedTLS_mbedtls_LIBRARY} ${MbedTLS_mbedx509_LIBRARY}
      ${MbedTLS_mbedcrypto_LIBRARY})
  set(_mbedtls_deps_mbedcrypto "")
  set(_mbedtls_deps_mbedx509 MbedTLS::mbedcrypto)
  set(_mbedtls_deps_mbedtls MbedTLS::mbedx509)
  foreach(lib mbedcrypto mbedx509 mbedtls)
    if(NOT TARGET MbedTLS::${lib})
      add_library(MbedTLS::${lib} UNKNOWN IMPORTED)
      set_target_properties(MbedTLS::${lib} PROPERTIES
        IMPORTED_LOCATION ${MbedTLS_${lib}_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${MbedTLS_INCLUDE_DIR}
        INTERFACE_LINK_LIBRARIES "${_mbedtls_deps_${lib}}")
    endif()
  endforeach()
endif()
mark_as_advanced(MbedTLS_INCLUDE_DIR MbedTLS_mbedtls_LIBRARY MbedTLS_mbedx509_LIBRARY
  MbedTLS_mbedcrypto_LIBRARY)
