# Assembles the AAR layout (cmake -P): classes.jar, jni/<ABI>/libmpsync_jni.so, AndroidManifest.xml, proguard.txt, R.txt, zipped.
# SPDX-License-Identifier: Apache-2.0
foreach(v JAR JNI_SO ABI SRC STAGE OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "make_aar.cmake: -D${v}= is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${STAGE})
file(MAKE_DIRECTORY ${STAGE}/jni/${ABI})
file(COPY_FILE ${JAR} ${STAGE}/classes.jar)
file(COPY_FILE ${JNI_SO} ${STAGE}/jni/${ABI}/libmpsync_jni.so)
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
