# Test (cmake -P): the AAR holds the entries Android needs, and its classes.jar holds the API but no Android stub.
# SPDX-License-Identifier: Apache-2.0
execute_process(COMMAND ${JAR_TOOL} tf ${AAR} OUTPUT_VARIABLE entries RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot list ${AAR}")
endif()
foreach(e AndroidManifest.xml classes.jar proguard.txt R.txt jni/${ABI}/libmpsync_jni.so)
  string(FIND "${entries}" "${e}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${AAR} lacks ${e}:\n${entries}")
  endif()
endforeach()
get_filename_component(dir ${AAR} DIRECTORY)
set(tmp ${dir}/.check-aar)
file(REMOVE_RECURSE ${tmp})
file(MAKE_DIRECTORY ${tmp})
execute_process(COMMAND ${JAR_TOOL} xf ${AAR} classes.jar WORKING_DIRECTORY ${tmp})
execute_process(COMMAND ${JAR_TOOL} tf ${tmp}/classes.jar OUTPUT_VARIABLE classes)
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
message(STATUS "AAR layout ok: ${AAR}")
