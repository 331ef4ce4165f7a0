/* Biz configurations (§6.2): the struct, its JSON form (biz file and admin API) and validation. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_BIZ_H
#define MOCK_BIZ_H

#include <cjson/cJSON.h>

#define BIZ_TYPE_MAX 30
#define INSTANCE_MAX 128

typedef struct biz_config {
  char instance_id[INSTANCE_MAX + 1]; /* "" = applies to every instance */
  char biz_type[BIZ_TYPE_MAX + 1];
  char description[512];
  int global;           /* scope: 1 global, 0 specified */
  int device_dim;       /* dimension: 1 device, 0 user */
  int multi_device;
  int persistent;
  int threshold_mode;   /* repushMode: 1 threshold, 0 queue */
  int threshold;
  int user_consistency;
  int online;
} biz_config;

/* Fills the defaults: scope specified, dimension user, multiDevice, persistent, queue, online. */
void biz_defaults(biz_config *c);

/* Applies the keys present in obj onto *c (absent keys keep their value). Returns 0, or -1 with a
 * message in err. allow_instance: whether the instanceId key may appear. */
int biz_apply_json(biz_config *c, const cJSON *obj, int allow_instance, char *err, size_t n);

/* The JSON form of c, with the same keys the biz file uses. */
cJSON *biz_to_json(const biz_config *c);

/* Parses a biz file (a JSON array). Returns the count, or -1 with a message in err; *out is
 * malloc'ed. */
int biz_load_file(const char *path, biz_config **out, char *err, size_t n);

#endif
