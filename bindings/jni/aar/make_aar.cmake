# Assembles the AAR (cmake -P) from classes.jar and one libmpsync_jni.so per Android ABI, taken from any number of build trees.
# SPDX-License-Identifier: Apache-2.0
cmake_minimum_required(VERSION 3.19) # if(IN_LIST) in script mode
#
#   cmake -DJAR=mpsync.jar -DSRC=bindings/jni/aar -DSTAGE=<scratch dir> -DOUT=<file.aar>
#         "-DJNI=x86_64=build;arm64-v8a=build-arm64/lib/libmpsync_jni.so"
#         [-DPOM=<file.pom> -DMAVEN_DIR=<repo root> -DGROUP=org.libmpsync -DARTIFACT=... -DVERSION=...]
#         -P make_aar.cmake
#
# Each JNI entry is <abi>=<path>: the .so itself, or a build tree whose lib/libmpsync_jni.so is
# taken. Every .so is checked against its ABI (android_abi.cmake) and an ABI may come only once.
# With MAVEN_DIR the AAR and POM are also laid out as a local Maven repository
# (<group as dirs>/<artifact>/<version>/<artifact>-<version>.{aar,pom}) for Gradle to read.
foreach(v JAR JNI SRC STAGE OUT)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "make_aar.cmake: -D${v}= is required")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/android_abi.cmake)

set(seen "")
set(pairs "")
foreach(entry IN LISTS JNI)
  if(NOT entry MATCHES "^([^=]+)=(.+)$")
    message(FATAL_ERROR "make_aar.cmake: JNI entry '${entry}' is not <abi>=<.so or build tree>")
  endif()
  set(abi ${CMAKE_MATCH_1})
  set(so ${CMAKE_MATCH_2})
  if(IS_DIRECTORY "${so}")
    set(so ${so}/lib/libmpsync_jni.so)
  endif()
  if(abi IN_LIST seen)
    message(FATAL_ERROR "make_aar.cmake: two .so files for ${abi}; an AAR holds one per ABI")
  endif()
  mpsync_elf_mismatch("${so}" "${abi}" why)
  if(why)
    message(FATAL_ERROR "make_aar.cmake: refusing ${abi}: ${why}")
  endif()
  list(APPEND seen ${abi})
  list(APPEND pairs "${abi}=${so}")
endforeach()

file(REMOVE_RECURSE ${STAGE})
file(MAKE_DIRECTORY ${STAGE})
file(COPY_FILE ${JAR} ${STAGE}/classes.jar)
foreach(p IN LISTS pairs)
  string(REGEX MATCH "^([^=]+)=(.+)$" _ "${p}")
  file(MAKE_DIRECTORY ${STAGE}/jni/${CMAKE_MATCH_1})
  file(COPY_FILE ${CMAKE_MATCH_2} ${STAGE}/jni/${CMAKE_MATCH_1}/libmpsync_jni.so)
endforeach()
file(COPY_FILE ${SRC}/AndroidManifest.xml ${STAGE}/AndroidManifest.xml)
file(COPY_FILE ${SRC}/proguard.txt ${STAGE}/proguard.txt)
# No Android resources; the Android Gradle plugin expects the (empty) symbol list anyway.
file(WRITE ${STAGE}/R.txt "")
file(REMOVE ${OUT})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E tar cf ${OUT} --format=zip
          AndroidManifest.xml classes.jar proguard.txt R.txt jni
  WORKING_DIRECTORY ${STAGE} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "zipping ${OUT} failed: ${rc}")
endif()

if(DEFINED MAVEN_DIR AND NOT MAVEN_DIR STREQUAL "")
  foreach(v POM GROUP ARTIFACT VERSION)
    if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
      message(FATAL_ERROR "make_aar.cmake: MAVEN_DIR needs -D${v}=")
    endif()
  endforeach()
  string(REPLACE "." "/" group_dir ${GROUP})
  set(dir ${MAVEN_DIR}/${group_dir}/${ARTIFACT}/${VERSION})
  file(REMOVE_RECURSE ${MAVEN_DIR}/${group_dir}/${ARTIFACT})
  file(MAKE_DIRECTORY ${dir})
  file(COPY_FILE ${OUT} ${dir}/${ARTIFACT}-${VERSION}.aar)
  file(COPY_FILE ${POM} ${dir}/${ARTIFACT}-${VERSION}.pom)
endif()
message(STATUS "AAR ${OUT}: ${seen}")
