# Test (cmake -P): an AAR built from this tree and a second build tree of another CPU holds both ABIs; a .so of the wrong CPU is refused.
# SPDX-License-Identifier: Apache-2.0
cmake_minimum_required(VERSION 3.19) # if(IN_LIST) in script mode
#
#   cmake -DHOST_SO=... -DHOST_ABI=x86_64 -DJAR=mpsync.jar -DSRC=bindings/jni/aar -DWORK=<scratch>
#         -DJAR_TOOL=jar -DPOM=<pom> -DBUILD=<this build dir> -P test_two_abis.cmake
#
# The second tree: the list in the environment variable MPSYNC_AAR_TREES (<abi>=<build tree>,
# ';'-separated; each must hold lib/libmpsync_jni.so - scripts/test.sh passes scripts/cross.sh's
# trees), else the cross trees scripts/cross.sh leaves in this build directory, else a stand-in .so
# compiled here with aarch64-linux-gnu-gcc (the layout and the ELF checks do not need the real
# shim), else the test is skipped with a message saying what is missing.
include(${CMAKE_CURRENT_LIST_DIR}/android_abi.cmake)
foreach(v HOST_SO HOST_ABI JAR SRC WORK JAR_TOOL POM BUILD)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "test_two_abis.cmake: -D${v}= is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

set(others "")
if(DEFINED ENV{MPSYNC_AAR_TREES} AND NOT "$ENV{MPSYNC_AAR_TREES}" STREQUAL "")
  foreach(e $ENV{MPSYNC_AAR_TREES})
    if(NOT e MATCHES "^([^=]+)=(.+)$")
      message(FATAL_ERROR "MPSYNC_AAR_TREES entry '${e}' is not <abi>=<build tree>")
    endif()
    if(NOT EXISTS ${CMAKE_MATCH_2}/lib/libmpsync_jni.so)
      message(FATAL_ERROR "MPSYNC_AAR_TREES names ${CMAKE_MATCH_2}, which has no lib/libmpsync_jni.so "
        "(scripts/cross.sh builds it with MPSYNC_JNI=ON)")
    endif()
    list(APPEND others "${CMAKE_MATCH_1}=${CMAKE_MATCH_2}")
  endforeach()
  set(origin "MPSYNC_AAR_TREES")
else()
  foreach(c arm64-v8a=${BUILD}/cross-arm64 armeabi-v7a=${BUILD}/cross-armhf)
    string(REGEX MATCH "^([^=]+)=(.+)$" _ "${c}")
    if(EXISTS ${CMAKE_MATCH_2}/lib/libmpsync_jni.so)
      list(APPEND others "${c}")
    endif()
  endforeach()
  set(origin "scripts/cross.sh's trees in ${BUILD}")
endif()
if(NOT others)
  find_program(CROSS_CC aarch64-linux-gnu-gcc)
  if(NOT CROSS_CC)
    message(STATUS "AAR-TEST-SKIPPED: no second build tree (scripts/cross.sh with its JNI shim) and "
      "no aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu) to build a stand-in .so")
    return()
  endif()
  # A stand-in shim: a real aarch64 shared object, so the ELF checks see what a cross tree gives.
  file(MAKE_DIRECTORY ${WORK}/standin/lib)
  file(WRITE ${WORK}/standin/standin.c "int mpsync_jni_standin(void) { return 0; }\n")
  execute_process(COMMAND ${CROSS_CC} -shared -fPIC -nostdlib -o ${WORK}/standin/lib/libmpsync_jni.so
                          ${WORK}/standin/standin.c RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CROSS_CC} could not build the stand-in: ${err}")
  endif()
  set(others "arm64-v8a=${WORK}/standin")
  set(origin "a stand-in built with ${CROSS_CC}")
endif()
message(STATUS "second build tree(s) from ${origin}: ${others}")

# Runs make_aar.cmake with the given JNI list into ${WORK}/<name>.aar; sets ok and log.
function(make_aar name jni)
  execute_process(COMMAND ${CMAKE_COMMAND} -DJAR=${JAR} "-DJNI=${jni}" -DSRC=${SRC}
      -DSTAGE=${WORK}/${name}-stage -DOUT=${WORK}/${name}.aar -DPOM=${POM} -DMAVEN_DIR=${WORK}/maven
      -DGROUP=org.libmpsync -DARTIFACT=mpsync-android -DVERSION=0.0.0
      -P ${CMAKE_CURRENT_LIST_DIR}/make_aar.cmake
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    set(ok TRUE PARENT_SCOPE)
  else()
    set(ok FALSE PARENT_SCOPE)
  endif()
  # CMake wraps an error message at spaces (and doubles the one after a period): one space each.
  string(REGEX REPLACE "[ \t\r\n]+" " " log "${out}${err}")
  set(log "${log}" PARENT_SCOPE)
endfunction()

# Both (or all) ABIs in one AAR, each .so where Android looks for it, checked as it sits there.
set(abis ${HOST_ABI})
foreach(e IN LISTS others)
  string(REGEX MATCH "^([^=]+)=" _ "${e}")
  list(APPEND abis ${CMAKE_MATCH_1})
endforeach()
make_aar(multi "${HOST_ABI}=${HOST_SO};${others}")
if(NOT ok)
  message(FATAL_ERROR "make_aar.cmake failed for ${abis}:\n${log}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -DAAR=${WORK}/multi.aar "-DABIS=${abis}" -DJAR_TOOL=${JAR_TOOL}
    -DPOM=${POM} -P ${CMAKE_CURRENT_LIST_DIR}/check_aar.cmake RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the AAR of ${abis} fails its layout check")
endif()
foreach(f aar pom)
  if(NOT EXISTS ${WORK}/maven/org/libmpsync/mpsync-android/0.0.0/mpsync-android-0.0.0.${f})
    message(FATAL_ERROR "the local Maven repository lacks mpsync-android-0.0.0.${f}")
  endif()
endforeach()

# The wrong CPU under an ABI is refused, naming the ABI and what the file really is: the second
# tree's .so as the host's ABI, the host's 64-bit .so as 32-bit x86, and one ABI given twice.
list(GET others 0 first)
string(REGEX MATCH "^([^=]+)=(.+)$" _ "${first}")
set(other_abi ${CMAKE_MATCH_1})
set(other_tree ${CMAKE_MATCH_2})
foreach(case "${HOST_ABI}=${other_tree}|refusing ${HOST_ABI}: .* is built for .*, i.e. ${other_abi}; jni/${HOST_ABI}/ needs"
             "x86=${HOST_SO}|refusing x86: .* is built for 64-bit .*; jni/x86/ needs 32-bit x86"
             "${HOST_ABI}=${HOST_SO};${HOST_ABI}=${HOST_SO}|two .so files for ${HOST_ABI}"
             "mips=${HOST_SO}|'mips' is not an Android ABI")
  # <JNI list>|<regex the refusal must match>; the regex may hold ';', so no list operations.
  string(FIND "${case}" "|" bar)
  string(SUBSTRING "${case}" 0 ${bar} jni)
  math(EXPR bar "${bar} + 1")
  string(SUBSTRING "${case}" ${bar} -1 want)
  make_aar(wrong "${jni}")
  if(ok)
    message(FATAL_ERROR "make_aar.cmake accepted ${jni}")
  endif()
  if(NOT log MATCHES "${want}")
    message(FATAL_ERROR "make_aar.cmake refused ${jni} without saying '${want}':\n${log}")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
message(STATUS "AAR with ${abis} built and checked; wrong-CPU .so files refused")
