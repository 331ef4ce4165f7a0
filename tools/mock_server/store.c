/* The mock server's state in one SQLite file (SPEC S10): configs, oplogs, streams, points, stats. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <sqlite3.h>
#include "util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 48
#define DAY_MS 86400000LL

struct store {
  sqlite3 *db;
  /* Statements are cached by the address of their SQL literal: each is prepared once. */
  struct {
    const char *sql;
    sqlite3_stmt *stmt;
  } cache[STMT_CACHE];
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS biz("
    " instance_id TEXT NOT NULL, biz_type TEXT NOT NULL, description TEXT NOT NULL,"
    " global INT NOT NULL, device_dim INT NOT NULL, multi_device INT NOT NULL,"
    " persistent INT NOT NULL, threshold_mode INT NOT NULL, threshold INT NOT NULL,"
    " user_consistency INT NOT NULL, online INT NOT NULL, PRIMARY KEY(instance_id, biz_type));"
    "CREATE TABLE IF NOT EXISTS streams("
    " instance_id TEXT NOT NULL, kind INT NOT NULL, biz_type TEXT NOT NULL, target TEXT NOT NULL,"
    " last_id INT NOT NULL, epoch INT NOT NULL DEFAULT 0, pruned_through INT NOT NULL DEFAULT 0,"
    " PRIMARY KEY(instance_id, kind, biz_type, target));"
    "CREATE TABLE IF NOT EXISTS oplogs("
    " instance_id TEXT NOT NULL, kind INT NOT NULL, biz_type TEXT NOT NULL, target TEXT NOT NULL,"
    " id INT NOT NULL, payload BLOB NOT NULL, binary INT NOT NULL, third_msg_id TEXT NOT NULL,"
    " create_ms INT NOT NULL, valid_end_ms INT NOT NULL, os_type TEXT NOT NULL,"
    " app_min TEXT NOT NULL, app_max TEXT NOT NULL, assigned_device TEXT NOT NULL,"
    " PRIMARY KEY(instance_id, kind, biz_type, target, id));"
    "CREATE INDEX IF NOT EXISTS oplogs_by_time ON oplogs(create_ms);"
    "CREATE TABLE IF NOT EXISTS idem("
    " instance_id TEXT NOT NULL, biz_type TEXT NOT NULL, link_token TEXT NOT NULL,"
    " third_msg_id TEXT NOT NULL, create_ms INT NOT NULL,"
    " PRIMARY KEY(instance_id, biz_type, link_token, third_msg_id));"
    "CREATE TABLE IF NOT EXISTS acked("
    " instance_id TEXT NOT NULL, device_id TEXT NOT NULL, kind INT NOT NULL,"
    " biz_type TEXT NOT NULL, target TEXT NOT NULL, point INT NOT NULL,"
    " PRIMARY KEY(instance_id, device_id, kind, biz_type, target));"
    "CREATE TABLE IF NOT EXISTS stats("
    " instance_id TEXT NOT NULL, kind INT NOT NULL, target TEXT NOT NULL, day INT NOT NULL,"
    " pushes INT NOT NULL, arrivals INT NOT NULL, PRIMARY KEY(instance_id, kind, target, day));"
    "CREATE TABLE IF NOT EXISTS records("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INT NOT NULL, instance_id TEXT NOT NULL,"
    " operator TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);"
    "PRAGMA user_version=2;";

/* Version 1 files lack the stream epoch and the retention mark; existing streams get an epoch so
 * that a client which synced against version 1 keeps its sync point (epoch 0 = "not told yet"). */
static const char *const migrate_1_to_2 =
    "ALTER TABLE streams ADD COLUMN epoch INT NOT NULL DEFAULT 0;"
    "ALTER TABLE streams ADD COLUMN pruned_through INT NOT NULL DEFAULT 0;";

static void log_db(store *st, const char *what) {
  fprintf(stderr, "mpsync-mock-server: sqlite %s: %s\n", what, sqlite3_errmsg(st->db));
}

/* A reset, unbound statement for sql (a string literal), or NULL on failure. */
static sqlite3_stmt *prep(store *st, const char *sql) {
  int i;
  for (i = 0; i < STMT_CACHE && st->cache[i].sql; i++)
    if (st->cache[i].sql == sql) {
      sqlite3_reset(st->cache[i].stmt);
      sqlite3_clear_bindings(st->cache[i].stmt);
      return st->cache[i].stmt;
    }
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
    log_db(st, "prepare");
    return NULL;
  }
  if (i < STMT_CACHE) {
    st->cache[i].sql = sql;
    st->cache[i].stmt = stmt;
  }
  return stmt;
}

/* Finishes a statement obtained from prep (only uncached ones are finalized). */
static void done(store *st, sqlite3_stmt *stmt) {
  for (int i = 0; i < STMT_CACHE && st->cache[i].sql; i++)
    if (st->cache[i].stmt == stmt) {
      sqlite3_reset(stmt);
      return;
    }
  sqlite3_finalize(stmt);
}

/* Binds texts/ints by a format: 't' text, 'i' int64, 'u' uint64. */
static int bind_all(sqlite3_stmt *stmt, const char *fmt, va_list ap) {
  for (int i = 0; fmt[i]; i++) {
    int rc;
    if (fmt[i] == 't') {
      rc = sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
    } else if (fmt[i] == 'u') {
      rc = sqlite3_bind_int64(stmt, i + 1, (sqlite3_int64)va_arg(ap, uint64_t));
    } else {
      rc = sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
    }
    if (rc != SQLITE_OK) return -1;
  }
  return 0;
}

/* Runs a statement that returns no rows. */
static int exec_bound(store *st, const char *sql, const char *fmt, ...) {
  sqlite3_stmt *stmt = prep(st, sql);
  if (!stmt) return -1;
  va_list ap;
  va_start(ap, fmt);
  int rc = bind_all(stmt, fmt, ap);
  va_end(ap);
  if (rc == 0 && sqlite3_step(stmt) != SQLITE_DONE) rc = -1;
  if (rc) log_db(st, "step");
  done(st, stmt);
  return rc;
}

/* Runs a query; *row gets the statement positioned on its first row. 1 row, 0 none, -1 error. */
static int query_bound(store *st, sqlite3_stmt **row, const char *sql, const char *fmt, ...) {
  sqlite3_stmt *stmt = prep(st, sql);
  if (!stmt) return -1;
  va_list ap;
  va_start(ap, fmt);
  int rc = bind_all(stmt, fmt, ap);
  va_end(ap);
  if (rc == 0) {
    int s = sqlite3_step(stmt);
    rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -1;
  }
  if (rc < 0) log_db(st, "query");
  *row = stmt;
  return rc;
}

static int user_version(sqlite3 *db) {
  sqlite3_stmt *q;
  int v = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  return v;
}

/* Gives every stream without an epoch a random one (streams of a version 1 file). */
static int assign_missing_epochs(store *st) {
  sqlite3_stmt *q, *u;
  if (sqlite3_prepare_v2(st->db, "SELECT rowid FROM streams WHERE epoch=0", -1, &q, NULL) !=
      SQLITE_OK)
    return -1;
  if (sqlite3_prepare_v2(st->db, "UPDATE streams SET epoch=? WHERE rowid=?", -1, &u, NULL) !=
      SQLITE_OK) {
    sqlite3_finalize(q);
    return -1;
  }
  int rc = 0;
  while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
    sqlite3_reset(u);
    sqlite3_bind_int64(u, 1, (sqlite3_int64)random_epoch());
    sqlite3_bind_int64(u, 2, sqlite3_column_int64(q, 0));
    if (sqlite3_step(u) != SQLITE_DONE) rc = -1;
  }
  sqlite3_finalize(q);
  sqlite3_finalize(u);
  return rc;
}

/* Creates or upgrades the schema in one transaction. */
static int migrate(store *st) {
  int v = user_version(st->db);
  if (v < 0 || sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
  int rc = (v == 1 ? sqlite3_exec(st->db, migrate_1_to_2, NULL, NULL, NULL) : SQLITE_OK) ==
                   SQLITE_OK &&
                   sqlite3_exec(st->db, schema, NULL, NULL, NULL) == SQLITE_OK &&
                   assign_missing_epochs(st) == 0 &&
                   sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
  if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int store_open(store **out, const char *dir, char *err, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/mock-server.db", dir);
  store *st = calloc(1, sizeof *st);
  if (!st) return -1;
  if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(st->db,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                   NULL, NULL, NULL) != SQLITE_OK ||
      migrate(st) != 0) {
    snprintf(err, n, "cannot open %s: %s", path, st->db ? sqlite3_errmsg(st->db) : "no memory");
    sqlite3_close(st->db);
    free(st);
    return -1;
  }
  sqlite3_busy_timeout(st->db, 2000);
  *out = st;
  return 0;
}

void store_close(store *st) {
  if (!st) return;
  for (int i = 0; i < STMT_CACHE && st->cache[i].sql; i++) sqlite3_finalize(st->cache[i].stmt);
  sqlite3_close(st->db);
  free(st);
}

struct sqlite3 *store_db(store *st) { return st->db; }

int store_begin(store *st) { return exec_bound(st, "BEGIN IMMEDIATE", ""); }
int store_commit(store *st) { return exec_bound(st, "COMMIT", ""); }
int store_set_durable(store *st, int durable) {
  return exec_bound(st, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", "");
}
void store_rollback(store *st) {
  if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- biz configs ---- */

#define BIZ_COLS                                                                              \
  "instance_id, biz_type, description, global, device_dim, multi_device, persistent,"         \
  " threshold_mode, threshold, user_consistency, online"

int store_biz_put(store *st, const biz_config *c) {
  return exec_bound(st,
                    "INSERT OR REPLACE INTO biz(" BIZ_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                    "tttiiiiiiii", c->instance_id, c->biz_type, c->description,
                    (int64_t)c->global, (int64_t)c->device_dim, (int64_t)c->multi_device,
                    (int64_t)c->persistent, (int64_t)c->threshold_mode, (int64_t)c->threshold,
                    (int64_t)c->user_consistency, (int64_t)c->online);
}

static void biz_from_row(sqlite3_stmt *r, biz_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->instance_id, sizeof c->instance_id, "%s", sqlite3_column_text(r, 0));
  snprintf(c->biz_type, sizeof c->biz_type, "%s", sqlite3_column_text(r, 1));
  snprintf(c->description, sizeof c->description, "%s", sqlite3_column_text(r, 2));
  c->global = sqlite3_column_int(r, 3);
  c->device_dim = sqlite3_column_int(r, 4);
  c->multi_device = sqlite3_column_int(r, 5);
  c->persistent = sqlite3_column_int(r, 6);
  c->threshold_mode = sqlite3_column_int(r, 7);
  c->threshold = sqlite3_column_int(r, 8);
  c->user_consistency = sqlite3_column_int(r, 9);
  c->online = sqlite3_column_int(r, 10);
}

int store_biz_get(store *st, const char *instance_id, const char *biz, biz_config *out) {
  sqlite3_stmt *r;
  int rc = query_bound(st, &r, "SELECT " BIZ_COLS " FROM biz WHERE instance_id=? AND biz_type=?",
                       "tt", instance_id, biz);
  if (rc == 1) biz_from_row(r, out);
  done(st, r);
  return rc;
}

int store_biz_find(store *st, const char *instance, const char *biz, biz_config *out) {
  int rc = store_biz_get(st, instance, biz, out);
  return rc == 0 ? store_biz_get(st, "", biz, out) : rc;
}

int store_biz_delete(store *st, const char *instance_id, const char *biz) {
  if (exec_bound(st, "DELETE FROM biz WHERE instance_id=? AND biz_type=?", "tt", instance_id, biz))
    return -1;
  return sqlite3_changes(st->db) > 0;
}

int store_biz_foreach(store *st, const char *instance, biz_visit fn, void *ud) {
  sqlite3_stmt *r;
  /* Ordered so that an instance's own row comes before the wildcard row of the same bizType. */
  int rc = instance ? query_bound(st, &r,
                                  "SELECT " BIZ_COLS " FROM biz WHERE instance_id IN (?, '')"
                                  " ORDER BY biz_type, instance_id DESC",
                                  "t", instance)
                    : query_bound(st, &r,
                                  "SELECT " BIZ_COLS " FROM biz ORDER BY biz_type, instance_id",
                                  "");
  char prev[BIZ_TYPE_MAX + 1] = "";
  while (rc == 1) {
    biz_config c;
    biz_from_row(r, &c);
    int shadowed = instance && strcmp(prev, c.biz_type) == 0;
    snprintf(prev, sizeof prev, "%s", c.biz_type);
    if (!shadowed && fn(ud, &c)) break;
    int s = sqlite3_step(r);
    rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -1;
  }
  done(st, r);
  return rc < 0 ? -1 : 0;
}

/* ---- pushes ---- */

int store_idem_claim(store *st, const char *instance, const char *biz, const char *token,
                     const char *third_msg_id, int64_t now_ms) {
  if (exec_bound(st,
                 "INSERT OR IGNORE INTO idem(instance_id, biz_type, link_token, third_msg_id,"
                 " create_ms) VALUES(?,?,?,?,?)",
                 "tttti", instance, biz, token, third_msg_id, now_ms))
    return -1;
  return sqlite3_changes(st->db) == 0;
}

int store_next_id(store *st, const char *instance, int kind, const char *biz, const char *target,
                  uint64_t *id, uint64_t *epoch) {
  /* A new stream starts a new epoch: a client holding points of an older life of it resyncs. */
  if (exec_bound(st,
                 "INSERT INTO streams(instance_id, kind, biz_type, target, last_id, epoch)"
                 " VALUES(?,?,?,?,1,?) ON CONFLICT DO UPDATE SET last_id = last_id + 1",
                 "tittu", instance, (int64_t)kind, biz, target, random_epoch()))
    return -1;
  stream_info info;
  int rc = store_stream_get(st, instance, kind, biz, target, 0, &info);
  if (rc != 1) return -1;
  *id = info.last_id;
  *epoch = info.epoch;
  return 0;
}

int store_stream_get(store *st, const char *instance, int kind, const char *biz,
                     const char *target, int create, stream_info *out) {
  if (create &&
      exec_bound(st,
                 "INSERT OR IGNORE INTO streams(instance_id, kind, biz_type, target, last_id,"
                 " epoch) VALUES(?,?,?,?,0,?)",
                 "tittu", instance, (int64_t)kind, biz, target, random_epoch()))
    return -1;
  sqlite3_stmt *r;
  int rc = query_bound(st, &r,
                       "SELECT last_id, epoch, pruned_through FROM streams WHERE instance_id=?"
                       " AND kind=? AND biz_type=? AND target=?",
                       "titt", instance, (int64_t)kind, biz, target);
  memset(out, 0, sizeof *out);
  if (rc == 1) {
    out->last_id = (uint64_t)sqlite3_column_int64(r, 0);
    out->epoch = (uint64_t)sqlite3_column_int64(r, 1);
    out->pruned_through = (uint64_t)sqlite3_column_int64(r, 2);
  }
  done(st, r);
  return rc;
}

int store_stream_reset(store *st, const char *instance, int kind, const char *biz,
                       const char *target, uint64_t *epoch) {
  *epoch = random_epoch();
  const char *k = "titt";
  int64_t ik = kind;
  return exec_bound(st,
                    "INSERT INTO streams(instance_id, kind, biz_type, target, last_id, epoch)"
                    " VALUES(?,?,?,?,0,?) ON CONFLICT DO UPDATE SET last_id=0,"
                    " epoch=excluded.epoch, pruned_through=0",
                    "tittu", instance, ik, biz, target, *epoch) ||
         exec_bound(st,
                    "DELETE FROM oplogs WHERE instance_id=? AND kind=? AND biz_type=?"
                    " AND target=?",
                    k, instance, ik, biz, target) ||
         exec_bound(st,
                    "DELETE FROM acked WHERE instance_id=? AND kind=? AND biz_type=?"
                    " AND target=?",
                    k, instance, ik, biz, target) ||
         /* The stream's history is gone, so a re-sent thirdMsgId is new data again. */
         exec_bound(st, "DELETE FROM idem WHERE instance_id=? AND biz_type=? AND link_token=?",
                    "ttt", instance, biz, target)
             ? -1
             : 0;
}

int store_oplog_insert(store *st, const oplog_rec *o) {
  sqlite3_stmt *stmt = prep(st,
                            "INSERT INTO oplogs(instance_id, kind, biz_type, target, id, payload,"
                            " binary, third_msg_id, create_ms, valid_end_ms, os_type, app_min,"
                            " app_max, assigned_device) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!stmt) return -1;
  sqlite3_bind_text(stmt, 1, o->instance_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(stmt, 2, o->kind);
  sqlite3_bind_text(stmt, 3, o->biz_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 4, o->target, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 5, (sqlite3_int64)o->id);
  sqlite3_bind_blob(stmt, 6, o->payload_len ? (const void *)o->payload : "", (int)o->payload_len,
                    SQLITE_STATIC);
  sqlite3_bind_int(stmt, 7, o->binary);
  sqlite3_bind_text(stmt, 8, o->third_msg_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 9, o->create_ms);
  sqlite3_bind_int64(stmt, 10, o->valid_end_ms);
  sqlite3_bind_text(stmt, 11, o->os_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 12, o->app_min, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 13, o->app_max, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 14, o->assigned_device, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
  if (rc) log_db(st, "insert oplog");
  done(st, stmt);
  return rc;
}

static void oplog_from_row(sqlite3_stmt *r, const char *instance, oplog_rec *o) {
  o->instance_id = instance;
  o->kind = sqlite3_column_int(r, 0);
  o->biz_type = (const char *)sqlite3_column_text(r, 1);
  o->target = (const char *)sqlite3_column_text(r, 2);
  o->id = (uint64_t)sqlite3_column_int64(r, 3);
  o->payload = sqlite3_column_blob(r, 4);
  o->payload_len = (size_t)sqlite3_column_bytes(r, 4);
  o->binary = sqlite3_column_int(r, 5);
  o->third_msg_id = (const char *)sqlite3_column_text(r, 6);
  o->create_ms = sqlite3_column_int64(r, 7);
  o->valid_end_ms = sqlite3_column_int64(r, 8);
  o->os_type = (const char *)sqlite3_column_text(r, 9);
  o->app_min = (const char *)sqlite3_column_text(r, 10);
  o->app_max = (const char *)sqlite3_column_text(r, 11);
  o->assigned_device = (const char *)sqlite3_column_text(r, 12);
}

#define OPLOG_SELECT                                                                          \
  "SELECT kind, biz_type, target, id, payload, binary, third_msg_id, create_ms, valid_end_ms," \
  " os_type, app_min, app_max, assigned_device FROM oplogs"                                   \
  " WHERE instance_id=? AND kind=? AND biz_type=? AND target=? AND id>?"

int store_oplog_foreach(store *st, const char *instance, int kind, const char *biz,
                        const char *target, uint64_t after, int desc, oplog_visit fn, void *ud) {
  sqlite3_stmt *r;
  int rc = desc ? query_bound(st, &r, OPLOG_SELECT " ORDER BY id DESC", "tittu", instance,
                              (int64_t)kind, biz, target, after)
                : query_bound(st, &r, OPLOG_SELECT " ORDER BY id ASC", "tittu", instance,
                              (int64_t)kind, biz, target, after);
  while (rc == 1) {
    oplog_rec o;
    oplog_from_row(r, instance, &o);
    if (fn(ud, &o)) break;
    int s = sqlite3_step(r);
    rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -1;
  }
  done(st, r);
  return rc < 0 ? -1 : 0;
}

int store_oplog_assign(store *st, const oplog_rec *o, const char *device) {
  return exec_bound(st,
                    "UPDATE oplogs SET assigned_device=? WHERE instance_id=? AND kind=?"
                    " AND biz_type=? AND target=? AND id=? AND assigned_device=''",
                    "ttittu", device, o->instance_id, (int64_t)o->kind, o->biz_type, o->target,
                    o->id);
}

/* ---- sync points, stats, records ---- */

int store_acked_get(store *st, const char *instance, const char *device, int kind,
                    const char *biz, const char *target, uint64_t *point) {
  sqlite3_stmt *r;
  int rc = query_bound(st, &r,
                       "SELECT point FROM acked WHERE instance_id=? AND device_id=? AND kind=?"
                       " AND biz_type=? AND target=?",
                       "ttitt", instance, device, (int64_t)kind, biz, target);
  *point = rc == 1 ? (uint64_t)sqlite3_column_int64(r, 0) : 0;
  done(st, r);
  return rc < 0 ? -1 : 0;
}

int store_acked_raise(store *st, const char *instance, const char *device, int kind,
                      const char *biz, const char *target, uint64_t point, uint64_t *old) {
  if (store_acked_get(st, instance, device, kind, biz, target, old)) return -1;
  if (point <= *old) return 0;
  return exec_bound(st,
                    "INSERT OR REPLACE INTO acked(instance_id, device_id, kind, biz_type, target,"
                    " point) VALUES(?,?,?,?,?,?)",
                    "ttittu", instance, device, (int64_t)kind, biz, target, point);
}

int store_stats_add(store *st, const char *instance, int kind, const char *target,
                    int64_t pushes, int64_t arrivals, int64_t now_ms) {
  return exec_bound(st,
                    "INSERT INTO stats(instance_id, kind, target, day, pushes, arrivals)"
                    " VALUES(?,?,?,?,?,?) ON CONFLICT DO UPDATE SET"
                    " pushes = pushes + excluded.pushes, arrivals = arrivals + excluded.arrivals",
                    "titiii", instance, (int64_t)kind, target, now_ms / DAY_MS, pushes, arrivals);
}

int store_stats_get(store *st, const char *instance, int kind, const char *target,
                    int64_t since_ms, int64_t *pushes, int64_t *arrivals) {
  sqlite3_stmt *r;
  int rc = query_bound(st, &r,
                       "SELECT COALESCE(SUM(pushes),0), COALESCE(SUM(arrivals),0) FROM stats"
                       " WHERE instance_id=? AND kind=? AND target=? AND day>=?",
                       "titi", instance, (int64_t)kind, target, since_ms / DAY_MS);
  *pushes = rc == 1 ? sqlite3_column_int64(r, 0) : 0;
  *arrivals = rc == 1 ? sqlite3_column_int64(r, 1) : 0;
  done(st, r);
  return rc < 0 ? -1 : 0;
}

int store_record_add(store *st, const char *instance, const char *operator_, const char *action,
                     const char *detail, int64_t now_ms) {
  return exec_bound(st,
                    "INSERT INTO records(time_ms, instance_id, operator, action, detail)"
                    " VALUES(?,?,?,?,?)",
                    "itttt", now_ms, instance, operator_, action, detail);
}

int store_prune(store *st, int64_t before_ms, int64_t *pruned) {
  if (store_begin(st)) return -1;
  /* Remember per stream the last id retention took, so a client coming back from before it is
   * told how many oplogs it will never get (OplogBatch.lost). */
  int rc = exec_bound(st,
                      "UPDATE streams SET pruned_through = (SELECT MAX(o.id) FROM oplogs o"
                      " WHERE o.instance_id=streams.instance_id AND o.kind=streams.kind"
                      " AND o.biz_type=streams.biz_type AND o.target=streams.target"
                      " AND o.create_ms < ?1)"
                      " WHERE pruned_through < COALESCE((SELECT MAX(o.id) FROM oplogs o"
                      " WHERE o.instance_id=streams.instance_id AND o.kind=streams.kind"
                      " AND o.biz_type=streams.biz_type AND o.target=streams.target"
                      " AND o.create_ms < ?1), 0)",
                      "i", before_ms) ||
           exec_bound(st, "DELETE FROM oplogs WHERE create_ms < ?", "i", before_ms);
  if (!rc && pruned) *pruned = sqlite3_changes(st->db);
  rc = rc ||
           exec_bound(st, "DELETE FROM idem WHERE create_ms < ?", "i", before_ms) ||
           exec_bound(st, "DELETE FROM stats WHERE day < ?", "i", before_ms / DAY_MS) ||
           exec_bound(st, "DELETE FROM records WHERE time_ms < ?", "i", before_ms);
  if (rc || store_commit(st)) {
    store_rollback(st);
    return -1;
  }
  return 0;
}
