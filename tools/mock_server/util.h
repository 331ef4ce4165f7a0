/* Small helpers of the mock server: clocks, text checks, address parsing and socket writes. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MOCK_UTIL_H
#define MOCK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Wall-clock time in ms since the epoch: oplog create times and validTimeEnd use it. */
int64_t wall_ms(void);

/* A random non-zero 63-bit stream epoch (fits SQLite's signed 64-bit integers). */
uint64_t random_epoch(void);

/* Number of Unicode code points in UTF-8 text (the API limits count characters, not bytes), or
 * (size_t)-1 when s is not well-formed UTF-8: a limit is never checked on a byte guess. */
size_t utf8_count(const char *s);

/* Bounds of the strict JSON the HTTP APIs accept (docs/PROTOCOL.md). */
#define JSON_MAX_DEPTH 16
#define JSON_MAX_MEMBERS 64 /* per object: duplicate keys are found by comparing each pair */
#define JSON_MAX_KEY 256    /* bytes of a decoded key */

/* Checks that s[0..n) is exactly one JSON object (RFC 8259) that cJSON will read faithfully:
 * well-formed UTF-8, no NUL (raw or \u0000), no lone surrogate escape, no duplicate key in any
 * object, nothing but whitespace after it, and within the bounds above. cJSON alone cuts strings
 * at \u0000 and keeps the first of two equal keys, so both would change what a request means.
 * Returns NULL when it passes, else a static text saying why. */
const char *json_strict_object(const char *s, size_t n);

/* `--text-utf8 lenient`: JSON strings may hold bytes that are not UTF-8, and a text payload of
 * such bytes is stored as is (its length then counts bytes). Never the service's behaviour: a
 * knob for SDK tests that must see how an app copes with a server that sends such text (C22). */
extern int json_lenient_utf8;

/* True when every %XX of a query string decodes to well-formed UTF-8 without NUL: a value
 * holding %00 would otherwise be cut short ("de%00mo" read as "de"). */
int query_is_clean(const char *query);

/* True for "1", "1.2.30": digits separated by single dots. */
int is_dotted_numeric(const char *s);
/* Compares two dotted version strings segment by segment, missing segments count as 0. */
int version_cmp(const char *a, const char *b);

/* Case-insensitive ASCII equality. */
int str_ieq(const char *a, const char *b);

/* Parses "HOST:PORT" or "[V6]:PORT" into *out. Returns 0 or -1. */
int parse_host_port(const char *arg, struct sockaddr_storage *out);
/* Formats a bound address as "HOST:PORT" ("[::1]:PORT" for IPv6). */
void format_sockaddr(const struct sockaddr_storage *ss, char *out, size_t n);

/* Replaces the file at path with the JSON text of o (o is freed): written to path.tmp, then
 * renamed, so that a crash leaves the old file or the new one, whole. 0 or -1. */
struct cJSON;
int json_save_file(const char *path, struct cJSON *o);

/* Writes a copy of data to the stream; the copy is freed when the write completes. */
int stream_write_copy(uv_stream_t *s, const void *data, size_t n);

/* Decodes %XX and '+' in place (query-string values). */
void url_decode(char *s);
/* Finds key in a query string "a=1&b=2"; copies its decoded value into out. 1 found, 0 not. */
int query_get(const char *query, const char *key, char *out, size_t n);

#endif
