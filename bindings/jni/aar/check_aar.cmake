# Test (cmake -P): the AAR holds the entries Android needs, one .so per listed ABI built for it, and its classes.jar holds the API but no Android stub.
# SPDX-License-Identifier: Apache-2.0
cmake_minimum_required(VERSION 3.19) # if(IN_LIST) in script mode
#
#   cmake -DAAR=<file.aar> -DABIS="x86_64;arm64-v8a" -DJAR_TOOL=jar [-DPOM=<file.pom>] -P check_aar.cmake
include(${CMAKE_CURRENT_LIST_DIR}/android_abi.cmake)
execute_process(COMMAND ${JAR_TOOL} tf ${AAR} OUTPUT_VARIABLE entries RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot list ${AAR}")
endif()
string(REGEX REPLACE "\r?\n" ";" entries "${entries}")
set(wanted AndroidManifest.xml classes.jar proguard.txt R.txt)
foreach(abi IN LISTS ABIS)
  list(APPEND wanted jni/${abi}/libmpsync_jni.so)
endforeach()
foreach(e IN LISTS wanted)
  if(NOT e IN_LIST entries)
    message(FATAL_ERROR "${AAR} lacks ${e}:\n${entries}")
  endif()
endforeach()
# Nothing under jni/ but the listed ABIs' shims: a stray ABI directory would make Android pick a
# .so nobody checked.
foreach(e IN LISTS entries)
  if(e MATCHES "^jni/.+[^/]$" AND NOT e IN_LIST wanted)
    message(FATAL_ERROR "${AAR} holds ${e}, not one of the ABIs ${ABIS}")
  endif()
endforeach()
get_filename_component(dir ${AAR} DIRECTORY)
get_filename_component(name ${AAR} NAME)
set(tmp ${dir}/.check-${name})
file(REMOVE_RECURSE ${tmp})
file(MAKE_DIRECTORY ${tmp})
execute_process(COMMAND ${JAR_TOOL} xf ${AAR} WORKING_DIRECTORY ${tmp})
execute_process(COMMAND ${JAR_TOOL} tf ${tmp}/classes.jar OUTPUT_VARIABLE classes)
# Each .so as it sits in the AAR, against its directory's ABI.
foreach(abi IN LISTS ABIS)
  mpsync_elf_mismatch(${tmp}/jni/${abi}/libmpsync_jni.so ${abi} why)
  if(why)
    file(REMOVE_RECURSE ${tmp})
    message(FATAL_ERROR "${AAR}: ${why}")
  endif()
endforeach()
file(REMOVE_RECURSE ${tmp})
foreach(c com/mpaas/mss/adapter/api/MPSync.class
          com/alipay/mobile/rome/longlinkservice/ISyncCallback.class
          com/alipay/mobile/rome/longlinkservice/ConnectionListener.class
          com/alipay/mobile/rome/longlinkservice/syncmodel/SyncMessage.class
          com/mpaas/mobile/rome/longlinkservice/ConnectionEvent.class
          com/mpaas/mas/adapter/api/MPLogger.class com/ut/device/UTDevice.class)
  string(FIND "${classes}" "${c}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "classes.jar lacks ${c}")
  endif()
endforeach()
string(FIND "${classes}" "android/" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "classes.jar ships Android stub classes:\n${classes}")
endif()
# The POM names the AAR as what it is, under the project's own coordinates.
if(DEFINED POM)
  file(READ ${POM} pom)
  foreach(want "<groupId>org.libmpsync</groupId>" "<artifactId>mpsync-android</artifactId>"
               "<packaging>aar</packaging>" "<modelVersion>4.0.0</modelVersion>")
    string(FIND "${pom}" "${want}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${POM} lacks ${want}")
    endif()
  endforeach()
  if(NOT pom MATCHES "<version>[0-9]+\\.[0-9]+\\.[0-9]+</version>")
    message(FATAL_ERROR "${POM} has no x.y.z version")
  endif()
endif()
message(STATUS "AAR layout ok: ${AAR} (${ABIS})")
