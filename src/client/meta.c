/* mPaaS meta.config loading (C16), parsed with SQLite's JSON functions so the core needs no other parser. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "mpsync/mpsync.h"
#include "util/util.h"

#define META_MAX_BYTES (64 * 1024)

struct mpsync_meta {
  size_t n;
  char **keys;
  char **values;
  char *instance_id;
};

static int read_file(const char *path, char **out) {
  FILE *f = fopen(path, "rb");
  if (!f) return MPSYNC_EIO;
  char *buf = malloc(META_MAX_BYTES + 1);
  if (!buf) {
    fclose(f);
    return MPSYNC_ENOMEM;
  }
  size_t n = fread(buf, 1, META_MAX_BYTES + 1, f);
  int err = ferror(f);
  fclose(f);
  if (err || n > META_MAX_BYTES) {
    free(buf);
    return err ? MPSYNC_EIO : MPSYNC_ECONFIG;
  }
  buf[n] = '\0';
  *out = buf;
  return 0;
}

static int add_pair(mpsync_meta *m, const char *key, const char *value) {
  char **k = realloc(m->keys, (m->n + 1) * sizeof *k);
  if (!k) return MPSYNC_ENOMEM;
  m->keys = k;
  char **v = realloc(m->values, (m->n + 1) * sizeof *v);
  if (!v) return MPSYNC_ENOMEM;
  m->values = v;
  m->keys[m->n] = mps_strdup(key);
  m->values[m->n] = mps_strdup(value);
  m->n++;
  return m->keys[m->n - 1] && m->values[m->n - 1] ? 0 : MPSYNC_ENOMEM;
}

/* Flattens the top-level object into key/text pairs; nested values keep their JSON text. */
static int parse(mpsync_meta *m, const char *json) {
  sqlite3 *db;
  if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return MPSYNC_ENOMEM;
  }
  sqlite3_stmt *q = NULL;
  int rc = MPSYNC_ECONFIG;
  if (sqlite3_prepare_v2(db,
                         "SELECT key, type, CASE WHEN type IN ('true', 'false') THEN type"
                         /* Pins may be a JSON array too: the TLS layer takes a comma list. */
                         " WHEN key = 'mpsyncPin' AND type = 'array' THEN"
                         " (SELECT ifnull(group_concat(p.value, ','), '') FROM json_each(e.value) p)"
                         " ELSE value END FROM json_each(?1) e"
                         " WHERE json_valid(?1) AND json_type(?1)='object'",
                         -1, &q, NULL) != SQLITE_OK)
    goto out;
  sqlite3_bind_text(q, 1, json, -1, SQLITE_STATIC);
  int step;
  rc = 0;
  while (!rc && (step = sqlite3_step(q)) == SQLITE_ROW) {
    const char *type = (const char *)sqlite3_column_text(q, 1);
    if (strcmp(type, "null") == 0) continue;
    rc = add_pair(m, (const char *)sqlite3_column_text(q, 0),
                  (const char *)sqlite3_column_text(q, 2));
  }
  if (!rc && step != SQLITE_DONE) rc = MPSYNC_ECONFIG;
out:
  sqlite3_finalize(q);
  sqlite3_close(db);
  return rc;
}

const char *mpsync_meta_get(const mpsync_meta *m, const char *key) {
  if (!m || !key) return NULL;
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->keys[i], key) == 0) return m->values[i];
  return NULL;
}

void mpsync_meta_free(mpsync_meta *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) {
    free(m->keys[i]);
    free(m->values[i]);
  }
  free(m->keys);
  free(m->values);
  free(m->instance_id);
  free(m);
}

static int valid_port(const char *s) {
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  long p = strtol(s, &end, 10);
  return !errno && !*end && p > 0 && p <= 65535;
}

int mpsync_meta_load(const char *path, mpsync_meta **out) {
  if (!path || !out) return MPSYNC_EINVAL;
  *out = NULL;
  char *json;
  int rc = read_file(path, &json);
  if (rc) return rc;
  mpsync_meta *m = calloc(1, sizeof *m);
  if (!m) {
    free(json);
    return MPSYNC_ENOMEM;
  }
  rc = parse(m, json);
  free(json);
  const char *app = mpsync_meta_get(m, "appId"), *ws = mpsync_meta_get(m, "workspaceId");
  if (!rc && (!app || !*app || !ws || !*ws || !mpsync_meta_get(m, "syncserver") ||
              !valid_port(mpsync_meta_get(m, "syncport"))))
    rc = MPSYNC_ECONFIG;
  if (!rc) {
    size_t n = strlen(ws) + strlen(app) + 2;
    if (!(m->instance_id = malloc(n)))
      rc = MPSYNC_ENOMEM;
    else
      snprintf(m->instance_id, n, "%s_%s", ws, app);
  }
  if (rc) {
    mpsync_meta_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int mpsync_meta_apply(const mpsync_meta *m, mpsync_config *cfg) {
  if (!m || !cfg) return MPSYNC_EINVAL;
  cfg->host = mpsync_meta_get(m, "syncserver");
  cfg->port = (uint16_t)strtol(mpsync_meta_get(m, "syncport"), NULL, 10);
  cfg->instance_id = m->instance_id;
  const char *v;
  if ((v = mpsync_meta_get(m, "mpsyncPlaintext"))) cfg->plaintext = strcmp(v, "true") == 0;
  if ((v = mpsync_meta_get(m, "mpsyncCaFile"))) cfg->ca_file = v;
  if ((v = mpsync_meta_get(m, "mpsyncPin"))) cfg->pin_sha256 = v;
  return 0;
}
