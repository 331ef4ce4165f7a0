/* Biz configurations (§6.2): the struct, its JSON form (biz file and admin API) and validation. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "biz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

void biz_defaults(biz_config *c) {
  memset(c, 0, sizeof *c);
  c->multi_device = 1;
  c->persistent = 1;
  c->online = 1;
}

static int get_bool(const cJSON *obj, const char *key, int *out, char *err, size_t n) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsBool(v)) {
    snprintf(err, n, "\"%s\" must be true or false", key);
    return -1;
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

/* Reads a string key that must be one of two words; *out = 1 for the second word. */
static int get_choice(const cJSON *obj, const char *key, const char *w0, const char *w1, int *out,
                      char *err, size_t n) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (cJSON_IsString(v) && strcmp(v->valuestring, w0) == 0) {
    *out = 0;
  } else if (cJSON_IsString(v) && strcmp(v->valuestring, w1) == 0) {
    *out = 1;
  } else {
    snprintf(err, n, "\"%s\" must be \"%s\" or \"%s\"", key, w0, w1);
    return -1;
  }
  return 0;
}

static int get_string(const cJSON *obj, const char *key, char *out, size_t cap, char *err,
                      size_t n) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return 0;
  if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) {
    snprintf(err, n, "\"%s\" must be a string of at most %zu bytes", key, cap - 1);
    return -1;
  }
  snprintf(out, cap, "%s", v->valuestring);
  return 0;
}

static const char *const known_keys[] = {
    "bizType", "description", "scope", "dimension", "multiDevice", "persistent",
    "repushMode", "threshold", "userConsistency", "online", "instanceId", NULL};

static void warn_unknown_keys(const cJSON *obj) {
  const cJSON *item;
  cJSON_ArrayForEach(item, obj) {
    int known = 0;
    for (int i = 0; known_keys[i]; i++) known |= strcmp(item->string, known_keys[i]) == 0;
    if (!known) fprintf(stderr, "mpsync-mock-server: ignoring unknown biz key \"%s\"\n", item->string);
  }
}

static int apply_threshold(biz_config *c, const cJSON *obj, char *err, size_t n) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "threshold");
  if (v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1000000 ||
        (double)(int)v->valuedouble != v->valuedouble) {
      snprintf(err, n, "\"threshold\" must be an integer between 0 and 1000000");
      return -1;
    }
    c->threshold = (int)v->valuedouble;
  }
  if (c->threshold_mode && c->threshold < 1) {
    snprintf(err, n, "repushMode \"threshold\" needs a \"threshold\" of at least 1");
    return -1;
  }
  return 0;
}

int biz_apply_json(biz_config *c, const cJSON *obj, int allow_instance, char *err, size_t n) {
  if (!cJSON_IsObject(obj)) {
    snprintf(err, n, "a biz config must be a JSON object");
    return -1;
  }
  warn_unknown_keys(obj);
  if (get_string(obj, "bizType", c->biz_type, sizeof c->biz_type, err, n)) return -1;
  if (!mps_valid_biz(c->biz_type)) {
    snprintf(err, n, "\"bizType\" must be 1..30 printable ASCII characters without spaces");
    return -1;
  }
  if (cJSON_GetObjectItemCaseSensitive(obj, "instanceId")) {
    if (!allow_instance) {
      snprintf(err, n, "\"instanceId\" cannot be changed here");
      return -1;
    }
    if (get_string(obj, "instanceId", c->instance_id, sizeof c->instance_id, err, n)) return -1;
    if (!c->instance_id[0]) {
      snprintf(err, n, "\"instanceId\" must not be empty (leave it out to match every instance)");
      return -1;
    }
  }
  if (get_string(obj, "description", c->description, sizeof c->description, err, n) ||
      get_choice(obj, "scope", "specified", "global", &c->global, err, n) ||
      get_choice(obj, "dimension", "user", "device", &c->device_dim, err, n) ||
      get_choice(obj, "repushMode", "queue", "threshold", &c->threshold_mode, err, n) ||
      get_bool(obj, "multiDevice", &c->multi_device, err, n) ||
      get_bool(obj, "persistent", &c->persistent, err, n) ||
      get_bool(obj, "userConsistency", &c->user_consistency, err, n) ||
      get_bool(obj, "online", &c->online, err, n))
    return -1;
  return apply_threshold(c, obj, err, n);
}

cJSON *biz_to_json(const biz_config *c) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "bizType", c->biz_type);
  cJSON_AddStringToObject(o, "description", c->description);
  cJSON_AddStringToObject(o, "scope", c->global ? "global" : "specified");
  cJSON_AddStringToObject(o, "dimension", c->device_dim ? "device" : "user");
  cJSON_AddBoolToObject(o, "multiDevice", c->multi_device);
  cJSON_AddBoolToObject(o, "persistent", c->persistent);
  cJSON_AddStringToObject(o, "repushMode", c->threshold_mode ? "threshold" : "queue");
  cJSON_AddNumberToObject(o, "threshold", c->threshold);
  cJSON_AddBoolToObject(o, "userConsistency", c->user_consistency);
  cJSON_AddBoolToObject(o, "online", c->online);
  if (c->instance_id[0]) cJSON_AddStringToObject(o, "instanceId", c->instance_id);
  return o;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *data = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (cap - n < 4096) {
      char *p = realloc(data, cap + 65536);
      if (!p) break;
      data = p;
      cap += 65536;
    }
    size_t got = fread(data + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f) || !data;
  fclose(f);
  if (bad) {
    free(data);
    return NULL;
  }
  *len = n;
  return data;
}

/* Refuses two entries for the same (instanceId, bizType): which one wins would be arbitrary. */
static int check_unique(const biz_config *list, int count, char *err, size_t n) {
  for (int i = 0; i < count; i++)
    for (int j = i + 1; j < count; j++)
      if (!strcmp(list[i].biz_type, list[j].biz_type) &&
          !strcmp(list[i].instance_id, list[j].instance_id)) {
        snprintf(err, n, "entries %d and %d both define bizType \"%s\"", i, j, list[i].biz_type);
        return -1;
      }
  return 0;
}

static int parse_entries(const cJSON *arr, biz_config *list, char *err, size_t n) {
  int i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, arr) {
    char why[256] = "";
    biz_defaults(&list[i]);
    if (cJSON_IsObject(item) && !cJSON_GetObjectItemCaseSensitive(item, "bizType")) {
      snprintf(err, n, "entry %d: \"bizType\" is required", i);
      return -1;
    }
    if (biz_apply_json(&list[i], item, 1, why, sizeof why)) {
      snprintf(err, n, "entry %d: %s", i, why);
      return -1;
    }
    i++;
  }
  return check_unique(list, i, err, n);
}

int biz_load_file(const char *path, biz_config **out, char *err, size_t n) {
  size_t len = 0;
  char *text = read_file(path, &len);
  *out = NULL;
  if (!text) {
    snprintf(err, n, "cannot read biz file %s", path);
    return -1;
  }
  cJSON *arr = cJSON_ParseWithLength(text, len);
  free(text);
  if (!cJSON_IsArray(arr)) {
    snprintf(err, n, "biz file %s: %s", path,
             arr ? "must hold a JSON array of objects" : "not valid JSON");
    cJSON_Delete(arr);
    return -1;
  }
  int count = cJSON_GetArraySize(arr);
  biz_config *list = calloc(count ? (size_t)count : 1, sizeof *list);
  char why[300] = "";
  if (!list || parse_entries(arr, list, why, sizeof why)) {
    snprintf(err, n, "biz file %s: %s", path, list ? why : "out of memory");
    free(list);
    cJSON_Delete(arr);
    return -1;
  }
  cJSON_Delete(arr);
  *out = list;
  return count;
}
