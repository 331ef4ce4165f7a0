/* Signed pushes (guide §6.8): the global switch, the tenant's public key, and each push's check. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "signature.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <http_parser.h>
#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tls/mbedtls_compat.h"
#include "util.h"
#include "wire.h"

#define PEM_MAX (16u * 1024u)
#define SIG_MAX 1024 /* bytes of a decoded signature: RSA-8192 */

/* A remembered signature: its SHA-256, and when it may be forgotten. */
typedef struct seen_sig {
  unsigned char hash[32];
  int64_t until_ms; /* 0: an empty slot */
} seen_sig;

typedef struct signature_state {
  int enabled;
  char *pem; /* the public key as set, "" when none */
  mbedtls_pk_context pk;
  /* Accepted signatures still inside the window: open addressing, rebuilt when half full. */
  seen_sig *seen;
  size_t cap, used;
} signature_state;

/* ---- the replay cache ---- */

static seen_sig *seen_slot(seen_sig *tab, size_t cap, const unsigned char hash[32]) {
  size_t i;
  memcpy(&i, hash, sizeof i); /* a SHA-256 is already uniform */
  for (i &= cap - 1;; i = (i + 1) & (cap - 1))
    if (!tab[i].until_ms || memcmp(tab[i].hash, hash, 32) == 0) return &tab[i];
}

/* Keeps the live entries only, in a table at least four times their number. */
static int seen_rebuild(signature_state *s, int64_t now) {
  size_t live = 0;
  for (size_t i = 0; i < s->cap; i++) live += s->seen[i].until_ms > now;
  size_t cap = 64;
  while (cap < 4 * (live + 1)) cap *= 2;
  seen_sig *tab = calloc(cap, sizeof *tab);
  if (!tab) return -1;
  for (size_t i = 0; i < s->cap; i++)
    if (s->seen[i].until_ms > now) *seen_slot(tab, cap, s->seen[i].hash) = s->seen[i];
  free(s->seen);
  s->seen = tab;
  s->cap = cap;
  s->used = live;
  return 0;
}

/* 1 when hash was accepted within the window, else remembers it: 0, or -1 out of memory. */
static int seen_check_add(signature_state *s, const unsigned char hash[32], int64_t now) {
  if ((s->used + 1) * 2 > s->cap && seen_rebuild(s, now)) return -1;
  seen_sig *e = seen_slot(s->seen, s->cap, hash);
  if (e->until_ms > now) return 1;
  if (!e->until_ms) s->used++;
  memcpy(e->hash, hash, 32);
  /* The same timestamp stays acceptable until now + window at the latest. */
  e->until_ms = now + 2 * SIGNATURE_WINDOW_MS;
  return 0;
}

/* ---- state and its file ---- */

static void state_path(const mock_server *srv, char *out, size_t n) {
  snprintf(out, n, "%s/signature.json", srv->opts.data_dir);
}

/* Parses pem into pk: 0, or -1 when it is not a PEM RSA public key. */
static int parse_key(mbedtls_pk_context *pk, const char *pem) {
  mbedtls_pk_init(pk);
  size_t n = strlen(pem);
  /* A PEM's length must count its NUL for mbedTLS to read it as PEM. */
  if (n == 0 || n > PEM_MAX || !strstr(pem, "-----BEGIN ") ||
      mbedtls_pk_parse_public_key(pk, (const unsigned char *)pem, n + 1) != 0 ||
      !mbedtls_pk_can_do(pk, MBEDTLS_PK_RSA)) {
    mbedtls_pk_free(pk);
    mbedtls_pk_init(pk);
    return -1;
  }
  return 0;
}

static int save_state(const mock_server *srv) {
  char path[4096];
  state_path(srv, path, sizeof path);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "enabled", srv->sig->enabled);
  cJSON_AddStringToObject(o, "publicKey", srv->sig->pem);
  return json_save_file(path, o);
}

int signature_init(mock_server *srv) {
  signature_state *s = calloc(1, sizeof *s);
  if (!s || !(s->pem = strdup(""))) {
    free(s);
    return -1;
  }
  mbedtls_pk_init(&s->pk);
  mps_crypto_init();
  srv->sig = s;
  char path[4096];
  state_path(srv, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return 0;
    fprintf(stderr, "mpsync-mock-server: cannot read %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *text = calloc(1, PEM_MAX + 256);
  size_t n = text ? fread(text, 1, PEM_MAX + 255, f) : 0;
  fclose(f);
  cJSON *o = text ? cJSON_ParseWithLength(text, n) : NULL;
  free(text);
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enabled");
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "publicKey");
  int bad = !cJSON_IsBool(en) || !cJSON_IsString(key) ||
            (key->valuestring[0] && parse_key(&s->pk, key->valuestring)) ||
            (cJSON_IsTrue(en) && !key->valuestring[0]);
  if (!bad) {
    free(s->pem);
    s->pem = strdup(key->valuestring);
    s->enabled = cJSON_IsTrue(en);
  }
  cJSON_Delete(o);
  /* Starting with signatures silently off would open the push API: refuse instead. */
  if (bad || !s->pem) fprintf(stderr, "mpsync-mock-server: %s is damaged\n", path);
  return bad || !s->pem ? -1 : 0;
}

void signature_free(mock_server *srv) {
  signature_state *s = srv->sig;
  if (!s) return;
  mbedtls_pk_free(&s->pk);
  free(s->pem);
  free(s->seen);
  free(s);
  srv->sig = NULL;
}

/* ---- the check ---- */

static int by_name(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
  int c = memcmp(x, y, nx < ny ? nx : ny);
  if (c) return c;
  if (nx != ny) return nx < ny ? -1 : 1;
  return strcmp(x, y); /* the same name twice: by the whole pair, so the order is total */
}

char *signature_canonical(const char *method, const char *path, const char *query,
                          const char *timestamp, const char *body, size_t body_len) {
  unsigned char digest[32];
  if (mps_sha256((const unsigned char *)body, body_len, digest) != 0) return NULL;
  char *q = strdup(query), *parts[256];
  size_t np = 0;
  if (!q) return NULL;
  for (char *save = NULL, *p = strtok_r(q, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
    if (np == sizeof parts / sizeof parts[0]) {
      free(q);
      return NULL;
    }
    parts[np++] = p;
  }
  qsort(parts, np, sizeof parts[0], by_name);
  mps_buf out = {0};
  int rc = mps_buf_append(&out, method, strlen(method)) | mps_buf_append(&out, "\n", 1) |
           mps_buf_append(&out, path, strlen(path)) | mps_buf_append(&out, "\n", 1);
  for (size_t i = 0; i < np; i++)
    rc |= (i ? mps_buf_append(&out, "&", 1) : 0) | mps_buf_append(&out, parts[i], strlen(parts[i]));
  char hex[65];
  for (size_t i = 0; i < sizeof digest; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  rc |= mps_buf_append(&out, "\n", 1) | mps_buf_append(&out, timestamp, strlen(timestamp)) |
        mps_buf_append(&out, "\n", 1) | mps_buf_append(&out, hex, 64) | mps_buf_append(&out, "", 1);
  free(q);
  if (rc) {
    mps_buf_free(&out);
    return NULL;
  }
  return (char *)out.data;
}

/* A timestamp is decimal epoch ms, at most 15 digits (no sign, no spaces). */
static int parse_ms(const char *s, int64_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 15 || strspn(s, "0123456789") != n) return -1;
  *out = strtoll(s, NULL, 10);
  return 0;
}

const char *signature_check(mock_server *srv, const http_request *req) {
  signature_state *s = srv->sig;
  if (!s || !s->enabled) return NULL;
  if (!req->signature[0] || !req->sig_timestamp[0]) return SIG_MISSING;
  int64_t ts, now = wall_ms();
  if (parse_ms(req->sig_timestamp, &ts) || ts < now - SIGNATURE_WINDOW_MS ||
      ts > now + SIGNATURE_WINDOW_MS)
    return SIG_EXPIRED;
  unsigned char sig[SIG_MAX];
  size_t sig_len = 0;
  if (mbedtls_base64_decode(sig, sizeof sig, &sig_len, (const unsigned char *)req->signature,
                            strlen(req->signature)) != 0 ||
      !sig_len)
    return SIG_INVALID;
  char *text = signature_canonical(http_method_str(req->method), req->path, req->query,
                                   req->sig_timestamp, req->body, req->body_len);
  unsigned char digest[32];
  int ok = text && mps_sha256((const unsigned char *)text, strlen(text), digest) == 0;
  free(text);
  if (!ok) return "SYSTEM_ERROR";
  if (mbedtls_pk_verify(&s->pk, MBEDTLS_MD_SHA256, digest, sizeof digest, sig, sig_len) != 0)
    return SIG_INVALID;
  /* Only a signature that verified is remembered: garbage cannot fill the cache. */
  unsigned char key[32];
  if (mps_sha256(sig, sig_len, key) != 0) return "SYSTEM_ERROR";
  int seen = seen_check_add(s, key, now);
  if (seen < 0) return "SYSTEM_ERROR";
  return seen ? SIG_REPLAYED : NULL;
}

/* ---- GET/POST /admin/signature ---- */

static void respond_state(const signature_state *s, http_response *resp) {
  cJSON *d = cJSON_CreateObject();
  cJSON_AddBoolToObject(d, "enabled", s->enabled);
  cJSON_AddStringToObject(d, "publicKey", s->pem);
  http_respond_data(resp, d);
}

static void signature_set(mock_server *srv, const http_request *req, http_response *resp) {
  signature_state *s = srv->sig;
  const char *why = json_strict_object(req->body, req->body_len);
  cJSON *body = why ? NULL : cJSON_ParseWithLength(req->body, req->body_len);
  if (!body) {
    http_respond_args_error(resp, why ? why : "out of memory");
    return;
  }
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(body, "enabled");
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(body, "publicKey");
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  const char *bad = NULL;
  if (en && !cJSON_IsBool(en)) bad = "\"enabled\" must be true or false";
  else if (key && !cJSON_IsString(key)) bad = "\"publicKey\" must be a string";
  else if (key && key->valuestring[0] && parse_key(&pk, key->valuestring))
    bad = "\"publicKey\" is not a PEM RSA public key";
  int enabled = en ? cJSON_IsTrue(en) : s->enabled;
  const char *pem = key ? key->valuestring : s->pem;
  if (!bad && enabled && !pem[0]) bad = "signatures cannot be on without \"publicKey\"";
  char *copy = bad ? NULL : strdup(pem);
  if (bad || !copy) {
    mbedtls_pk_free(&pk);
    cJSON_Delete(body);
    if (bad) http_respond_args_error(resp, bad);
    else http_respond_code(resp, 500, 0, "SYSTEM_ERROR");
    return;
  }
  int was = s->enabled;
  char *old_pem = s->pem;
  mbedtls_pk_context old_pk = s->pk;
  s->enabled = enabled;
  s->pem = copy;
  if (key) s->pk = pk;
  if (save_state(srv) != 0) { /* what is not on disk is not in force either */
    s->enabled = was;
    s->pem = old_pem;
    s->pk = old_pk;
    free(copy);
    mbedtls_pk_free(&pk);
    cJSON_Delete(body);
    http_respond_code(resp, 500, 0, "SYSTEM_ERROR");
    return;
  }
  free(old_pem);
  if (key) mbedtls_pk_free(&old_pk);
  cJSON_Delete(body);
  if (was != enabled) {
    char op[128], detail[64];
    if (!query_get(req->query, "operator", op, sizeof op)) snprintf(op, sizeof op, "admin");
    snprintf(detail, sizeof detail, "enabled=%s%s", enabled ? "true" : "false",
             key ? " publicKey changed" : "");
    store_record_add(srv->st, "", op, enabled ? "开启签名" : "关闭签名", detail, wall_ms());
  }
  respond_state(s, resp);
}

void signature_admin(mock_server *srv, const http_request *req, http_response *resp) {
  if (req->method == HTTP_GET) {
    respond_state(srv->sig, resp);
  } else if (req->method == HTTP_POST) {
    signature_set(srv, req, resp);
  } else {
    http_respond_code(resp, 405, 0, "METHOD_NOT_ALLOWED");
    resp->allow = "GET, POST";
  }
}
