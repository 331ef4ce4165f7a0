/* The message a callback sees: the public struct, with the SDK's oplog array behind it. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_CLIENT_MESSAGE_H
#define MPSYNC_CLIENT_MESSAGE_H

#include "mpsync/mpsync.h"
#include "store/store.h"

/* Apps reach oplogs through mpsync_message_oplog(), never by stride, so the array and the
 * oplog struct can grow. pub comes first: a pointer to it is a pointer to the view. */
typedef struct mps_message_view {
  mpsync_message pub;
  const mpsync_oplog *oplogs;
} mps_message_view;

/* A view of m, valid while m lives. */
void mps_message_view_init(mps_message_view *v, const mps_msg *m);

#endif
