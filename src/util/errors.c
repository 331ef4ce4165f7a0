/* Error names and messages, generated from the one table in mpsync_errors.h. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "mpsync/mpsync.h"

const char *mpsync_strerror(int err) {
  switch (err) {
    case MPSYNC_OK:
      return "success";
#define XX(name, value, msg) \
  case MPSYNC_##name:        \
    return msg;
    MPSYNC_ERRNO_MAP(XX)
#undef XX
    default:
      return "unknown error";
  }
}

const char *mpsync_err_name(int err) {
  switch (err) {
    case MPSYNC_OK:
      return "MPSYNC_OK";
#define XX(name, value, msg) \
  case MPSYNC_##name:        \
    return "MPSYNC_" #name;
    MPSYNC_ERRNO_MAP(XX)
#undef XX
    default:
      return "MPSYNC_UNKNOWN";
  }
}

const char *mpsync_version(void) { return MPSYNC_VERSION_STRING; }
