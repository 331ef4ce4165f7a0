/* The one error space of libmpsync: every code, its name and its message, in one X-macro table. */
/* SPDX-License-Identifier: Apache-2.0 */
/** \file mpsync_errors.h
 * \brief Error codes of libmpsync. */
#ifndef MPSYNC_ERRORS_H
#define MPSYNC_ERRORS_H

/**
 * \defgroup errors Error codes
 * 0 is success, every error is negative. Codes are never renumbered or removed; new ones are
 * appended. A function that takes a callback and returns an error never calls that callback.
 * @{
 */

/** The error table: XX(name, value, message). */
#define MPSYNC_ERRNO_MAP(XX)                                                       \
  XX(EINVAL, -1, "invalid argument")                                               \
  XX(ENOMEM, -2, "out of memory")                                                  \
  XX(ESTORE, -3, "local cache (SQLite) error")                                     \
  XX(EPROTO, -4, "protocol error: malformed or unexpected frame")                  \
  XX(EFRAMESIZE, -5, "frame larger than the protocol maximum")                     \
  XX(EVERSION, -6, "unsupported protocol version")                                 \
  XX(ECLOSED, -7, "connection closed")                                             \
  XX(ETIMEDOUT, -8, "timed out")                                                   \
  XX(ENOTFOUND, -9, "no such object")                                              \
  XX(ESTALE, -10, "message is no longer in flight")                                \
  XX(ETOOLONG, -11, "string longer than its limit")                                \
  XX(EBUSY, -12, "resource busy")                                                  \
  XX(EIO, -13, "input/output error")                                               \
  XX(ENOUSER, -14, "no user is bound")                                             \
  XX(ETLS, -15, "TLS error")                                                       \
  XX(ESHUTDOWN, -16, "client is shutting down")                                    \
  XX(ECONFIG, -17, "invalid configuration")

/** Error codes returned by libmpsync functions. */
typedef enum mpsync_error {
  MPSYNC_OK = 0, /**< success */
/** \cond INTERNAL */
#define MPSYNC_ERR_ENUM_(name, value, msg) MPSYNC_##name = (value),
/** \endcond */
  MPSYNC_ERRNO_MAP(MPSYNC_ERR_ENUM_)
#undef MPSYNC_ERR_ENUM_
} mpsync_error;

/** @} */

#endif /* MPSYNC_ERRORS_H */
