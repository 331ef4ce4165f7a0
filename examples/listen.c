/* Minimal example: receive one bizType from a sync server and report each message. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mpsync/mpsync.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void on_message(mpsync_client *client, const mpsync_message *msg, void *user_data) {
  (void)user_data;
  char *json;
  if (mpsync_message_to_json(msg, &json) == 0) {
    printf("%s: %s%s\n", msg->biz, json, msg->has_more ? " (more waiting)" : "");
    fflush(stdout);
    mpsync_free(json);
  }
  /* Report only once the data is safely handled: until then the SDK keeps and redelivers it. */
  mpsync_report(client, msg->biz, msg->id);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s HOST PORT INSTANCE DATA_DIR BIZ [USER]\n", argv[0]);
    return 2;
  }
  mpsync_config cfg;
  mpsync_config_init(&cfg, sizeof cfg);
  cfg.host = argv[1];
  cfg.port = (uint16_t)atoi(argv[2]);
  cfg.instance_id = argv[3];
  cfg.data_dir = argv[4];
  cfg.plaintext = 1; /* a local mock server; production keeps TLS */
  mpsync_client *client;
  int rc = mpsync_client_new(&cfg, &client);
  if (rc) {
    fprintf(stderr, "mpsync_client_new: %s\n", mpsync_strerror(rc));
    return 1;
  }
  if (argc > 6) mpsync_bind_user(client, argv[6], "");
  mpsync_register_biz(client, argv[5], on_message, NULL);
  mpsync_foreground(client);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  while (!stop) pause();
  mpsync_client_free(client);
  return 0;
}
