/* An app outside the tree: includes <mpsync/mpsync.h> only, receives one message and reports it. */
/* SPDX-License-Identifier: Apache-2.0 */
/* nanosleep() is POSIX; -std=c11 alone hides it. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpsync/mpsync.h>

/* Set on the delivery thread, read by main: an atomic is all the handoff needs. */
static atomic_int received;

static void on_message(mpsync_client *client, const mpsync_message *msg, void *user_data) {
  (void)user_data;
  char *json;
  if (mpsync_message_to_json(msg, &json) == 0) {
    printf("%s\n", json);
    fflush(stdout);
    mpsync_free(json);
  }
  mpsync_report(client, msg->biz, msg->id);
  atomic_store(&received, 1);
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s HOST PORT INSTANCE DATA_DIR BIZ USER\n", argv[0]);
    return 2;
  }
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cfg.host = argv[1];
  cfg.port = (uint16_t)atoi(argv[2]);
  cfg.instance_id = argv[3];
  cfg.data_dir = argv[4];
  cfg.plaintext = 1; /* the mock server on loopback */
  mpsync_client *client;
  int rc = mpsync_client_new(&cfg, &client);
  if (rc) {
    fprintf(stderr, "mpsync_client_new: %s\n", mpsync_strerror(rc));
    return 1;
  }
  mpsync_register_biz(client, argv[5], on_message, NULL);
  mpsync_bind_user(client, argv[6], "");
  mpsync_foreground(client);
  /* A bounded wait: the test driver fails the run on a non-zero exit, not on a hang. */
  const struct timespec tick = {0, 50 * 1000 * 1000};
  for (int i = 0; i < 400 && !atomic_load(&received); i++) nanosleep(&tick, NULL);
  mpsync_client_free(client);
  if (!atomic_load(&received)) {
    fprintf(stderr, "consumer: no message within 20 s (libmpsync %s)\n", mpsync_version());
    return 1;
  }
  return 0;
}
