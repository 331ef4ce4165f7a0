/* libmpsync public API: the one header an app includes to receive server-pushed oplogs. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MPSYNC_H
#define MPSYNC_H

#include <stddef.h>
#include <stdint.h>

#include "mpsync/mpsync_errors.h"
#include "mpsync/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a symbol exported from the shared library; everything else is hidden. */
#if defined(MPSYNC_BUILDING)
#define MPSYNC_EXTERN __attribute__((visibility("default")))
#else
#define MPSYNC_EXTERN
#endif

/**
 * \file mpsync.h
 * \brief The public API of libmpsync.
 *
 * A client SDK for server-to-client data sync. Threads: every public function may be called from
 * any thread. The network runs on an SDK thread (a libuv loop). Callbacks run on SDK delivery
 * threads, never the network thread or the caller's: the messages of one bizType one at a time
 * and in order, state changes one at a time and in order, different bizTypes side by side — so a
 * slow callback delays only its own bizType (C4). No internal lock is held while app code runs,
 * and a callback may call any function of this API (mpsync_client_free() excepted).
 *
 * Calls that wait, and for what: mpsync_bind_user() and mpsync_clear_user() wait for the network
 * thread to take the change (microseconds to a few milliseconds), then — unless called from a
 * callback — for callbacks already running with the old user's data to return.
 * mpsync_unregister_biz() waits likewise for that bizType's running callback. mpsync_register_biz(),
 * mpsync_report(), mpsync_purge_user() and mpsync_purge_all() wait for the network thread to
 * commit (typically well under a millisecond; a cache write on a slow disk may take longer).
 * mpsync_client_free() waits for the SDK's threads to stop: about a second at most. Every other
 * call queues its work and returns at once. None waits for the network.
 */

/**
 * \defgroup client Client
 * @{
 */

/** A sync client: one long-link, one local cache. Create with mpsync_client_new(). */
typedef struct mpsync_client mpsync_client;

/** Connection states reported to the state listener (C13). */
typedef enum mpsync_state {
  MPSYNC_STATE_DISCONNECTED = 0,   /**< no link (backgrounded, or between attempts) */
  MPSYNC_STATE_CONNECTING = 1,     /**< a connection attempt is under way */
  MPSYNC_STATE_CONNECTED = 2,      /**< handshake done; oplogs flow */
  MPSYNC_STATE_CONNECT_FAILED = 3  /**< the last attempt failed; a retry is scheduled */
} mpsync_state;

/** Log levels for the log hook; lower is more severe. */
typedef enum mpsync_log_level {
  MPSYNC_LOG_ERROR = 0, /**< something failed */
  MPSYNC_LOG_WARN = 1,  /**< something odd that the SDK recovered from */
  MPSYNC_LOG_INFO = 2,  /**< state changes (connect, disconnect) */
  MPSYNC_LOG_DEBUG = 3  /**< per-frame detail; never payload bytes or secrets */
} mpsync_log_level;

/**
 * Log hook. Called from any SDK thread, possibly concurrently; \p msg is valid for the call only.
 * Must not call back into the client.
 */
typedef void (*mpsync_log_fn)(void *user_data, mpsync_log_level level, const char *msg);

/**
 * Connection-state listener. Runs on a delivery thread, one call at a time, in the order the
 * states happened.
 * \p reason is a short text for CONNECT_FAILED and DISCONNECTED ("" otherwise), valid for the call.
 */
typedef void (*mpsync_state_fn)(void *user_data, mpsync_state state, const char *reason);

/** Operating system reported to the server for its osType filter. */
typedef enum mpsync_os_type {
  MPSYNC_OS_ANDROID = 0, /**< "ANDROID" */
  MPSYNC_OS_IOS = 1      /**< "IOS" */
} mpsync_os_type;

/** The answer of a certificate-verification hook (mpsync_verify_fn). */
typedef enum mpsync_trust_verdict {
  MPSYNC_TRUST_REFUSE = 0, /**< refuse the server: the handshake fails, the link is not used */
  MPSYNC_TRUST_ACCEPT = 1  /**< accept the server as far as the hook is concerned */
} mpsync_trust_verdict;

/**
 * How a certificate-verification hook (mpsync_config.verify_fn) combines with libmpsync's own
 * check of the server's chain and name against ca_file (or the system store). Pins
 * (mpsync_config.pin_sha256) apply in both modes, before the hook: a server whose key matches no
 * pin is refused and the hook is not called.
 */
typedef enum mpsync_trust_mode {
  /** Both must agree. The hook is called only when the chain leads to ca_file (or the system
   * store) and carries the expected name; it can only refuse more. A refusal always wins over a
   * valid chain. The default. */
  MPSYNC_TRUST_CHAIN_AND_HOOK = 0,
  /** The hook decides: its verdict is final, whatever libmpsync's own check found, which it learns
   * from its \p chain_verified argument. For Android and iOS, where the platform's trust store
   * (X509TrustManager, SecTrust) is the truth and no CA file exists: the hook must then check the
   * chain *and* the host name itself, as the platform's verifier does. With no ca_file given, no
   * store is loaded at all (chain_verified is then always 0). */
  MPSYNC_TRUST_HOOK_DECIDES = 1
} mpsync_trust_mode;

/**
 * Certificate-verification hook: decides whether the server the client is connecting to may be
 * trusted, as OkHttp's X509TrustManager or Apple's SecTrust would decide it.
 *
 * Called once per TLS handshake, during it (before the client sends anything of its own), on the
 * SDK's network thread: it must not block for long (no network fetch, no UI), as no message of
 * any kind moves while it runs, and must not call mpsync_client_free(). Platform checks that take
 * a few milliseconds are fine.
 *
 * \param user_data      mpsync_config.user_data.
 * \param host           the name the certificate must carry: mpsync_config.server_name, else host.
 * \param certs          the chain the server sent, in DER, leaf first (\p count entries); each
 *                       \p certs[i] is \p cert_lens[i] bytes. Valid for the call only.
 * \param cert_lens      the length of each certificate.
 * \param count          how many certificates (at least 1, at most 16; a longer chain is refused
 *                       without calling the hook).
 * \param chain_verified non-zero when libmpsync's own check passed: the chain leads to ca_file (or
 *                       the system store), is in date, and names \p host. Always non-zero in
 *                       MPSYNC_TRUST_CHAIN_AND_HOOK mode.
 * \return MPSYNC_TRUST_ACCEPT or MPSYNC_TRUST_REFUSE; any other value refuses.
 */
typedef mpsync_trust_verdict (*mpsync_verify_fn)(void *user_data, const char *host,
                                                 const uint8_t *const *certs,
                                                 const size_t *cert_lens, size_t count,
                                                 int chain_verified);

/**
 * \example verify_hook.c
 * A verify_fn that accepts only the server certificate the app ships, with a CA file
 * (MPSYNC_TRUST_CHAIN_AND_HOOK) or without one (MPSYNC_TRUST_HOOK_DECIDES).
 */

/**
 * Client configuration. Fill with mpsync_config_init() first, then set what differs. Every string
 * and buffer is copied by mpsync_client_new(); the struct may be freed afterwards.
 */
typedef struct mpsync_config {
  /** The size of the app's struct, set by mpsync_config_init(): lets the struct grow without ABI
   * breaks (see mpsync_config_init()). */
  size_t struct_size;
  /** Sync server host name or IP literal. Required. */
  const char *host;
  /** Sync server long-link port. Default 443. */
  uint16_t port;
  /** Tenant and app: "workspaceId_appId". Required, at most 100 characters. */
  const char *instance_id;
  /** Directory for the cache file (created 0700 if missing). Required. */
  const char *data_dir;
  /** Operating system for server-side filters. Default MPSYNC_OS_ANDROID. */
  mpsync_os_type os_type;
  /** App version, dotted numeric ("10.1.68"), for server-side version filters. Default "1.0.0". */
  const char *app_version;
  /** Device id to use instead of the generated one (C17); NULL = generate once and persist. */
  const char *device_id;
  /** Non-zero: plain TCP. Only for a local mock server; TLS 1.2+ is the default (C15). */
  int plaintext;
  /** CA certificates (PEM file or directory) the server's chain must lead to; NULL = the system
   * store: the first bundle or certificate directory found among the usual places of Linux
   * distributions, macOS and Android (docs/PORTABILITY.md). */
  const char *ca_file;
  /** Pins: base64 SHA-256 of the server's SubjectPublicKeyInfo, several separated by commas
   * (at most 8; spaces around them are ignored): the current key's and one or more backups'. A
   * server whose key matches none is refused even with a valid chain. Pin a backup key before
   * rotating to it (docs/LINK.md, "Rotating a pinned key"). NULL or "" = no pinning. */
  const char *pin_sha256;
  /** Deliveries of one message before its oplogs are dropped for good (C6). Default 6. */
  unsigned max_deliveries;
  /** First redelivery delay of an unreported message, doubled each time (C6). Default 5000 ms. */
  unsigned redelivery_base_ms;
  /** Most oplogs handed over in one message. Default 10. */
  unsigned max_oplogs_per_message;
  /** Reconnect back-off cap (C11). Default 60000 ms. */
  unsigned reconnect_max_ms;
  /** Log hook; NULL = no logging. */
  mpsync_log_fn log_fn;
  /** Most detailed level passed to log_fn. Default MPSYNC_LOG_INFO. */
  mpsync_log_level log_level;
  /** Connection-state listener; NULL = none. */
  mpsync_state_fn state_fn;
  /** Passed to log_fn and state_fn. */
  void *user_data;
  /** Name the server certificate must carry, when it differs from host (host is an IP literal,
   * or a front door); NULL = host. */
  const char *server_name;
  /** Threads that run message callbacks, 1–16. Each bizType runs on one of them at a time, in
   * order; more threads let more slow callbacks run side by side (C4). Default 4. */
  unsigned delivery_threads;
  /** Most oplogs the cache holds awaiting report (C18). When full, the client takes no more: it
   * acknowledges only what it stored, the server keeps the rest, and once reports make room the
   * client reconnects and fetches them. Nothing is dropped. Default 100000. */
  unsigned max_cached_oplogs;
  /** Encryption at rest, opt-in: a 32-byte key (kept by the app in the Android Keystore or the iOS
   * Keychain) under which cached payloads are sealed with AES-256-GCM, bound to their stream and
   * id. A cache written with a key refuses to open without it or with another (MPSYNC_ECONFIG);
   * a payload that fails authentication is dropped, never dispatched. Copied at creation.
   * NULL = payloads stored in the clear (the file is 0600 either way). */
  const uint8_t *cache_key;
  /** Length of cache_key: 32. */
  size_t cache_key_len;
  /** How long the link stays up after mpsync_background() (C23; the iOS shim sets 180000, as an
   * iOS app stays online about three minutes in the background). Pushes in that window arrive.
   * Default 0: close at once. */
  unsigned background_grace_ms;
  /** Certificate-verification hook, consulted after libmpsync's own chain check as trust_mode
   * says; called with user_data. NULL = none: the chain check (and pins) alone decide. */
  mpsync_verify_fn verify_fn;
  /** How verify_fn combines with the chain check. Default MPSYNC_TRUST_CHAIN_AND_HOOK (a hook
   * can only refuse more); MPSYNC_TRUST_HOOK_DECIDES needs verify_fn. */
  mpsync_trust_mode trust_mode;
} mpsync_config;

/**
 * Fills \p cfg with the defaults; call it as `mpsync_config_init(&cfg, sizeof cfg)`. Any thread.
 *
 * The ABI rule of this struct (docs/API_STABILITY.md): fields are only ever appended, and the
 * app passes the size of *its* struct. This function writes exactly \p size bytes (never past
 * them) and records \p size in struct_size. mpsync_client_new() reads no byte past struct_size,
 * takes the defaults for fields an older app's struct lacks, and refuses (MPSYNC_EINVAL) a struct
 * from a newer header only when the fields this library does not know are not all zero. An app
 * built against an older header therefore keeps working with a newer library, unchanged.
 * \p size smaller than `sizeof(size_t)` does nothing.
 */
MPSYNC_EXTERN void mpsync_config_init(mpsync_config *cfg, size_t size);

/**
 * Creates a client: opens (or creates, mode 0600) the cache in cfg->data_dir and starts the SDK
 * threads. The client stays offline until mpsync_foreground(). Any thread.
 * \return 0 and *out set; MPSYNC_EINVAL (missing or bad field), MPSYNC_ETOOLONG, MPSYNC_ESTORE
 *         (cache cannot be opened), MPSYNC_ECONFIG (TLS settings unusable; cache encrypted and
 *         the key missing or wrong), MPSYNC_ENOMEM, MPSYNC_EIO (threads or loop cannot start).
 *         The reason is also passed to the log hook.
 */
MPSYNC_EXTERN int mpsync_client_new(const mpsync_config *cfg, mpsync_client **out);

/**
 * Stops the threads, closes the link (sending Close and TLS close_notify, bounded to about a
 * second however the network behaves) and the cache, and frees the client. NULL is a harmless
 * no-op. It allocates nothing and never waits for a DNS lookup. After it returns no callback of
 * the client runs. Any thread but the client's own callbacks.
 * \return 0 (freed); MPSYNC_EBUSY when called from a callback of this client (it would wait for
 *         itself: nothing is done); MPSYNC_ESHUTDOWN when another thread is already freeing it.
 */
MPSYNC_EXTERN int mpsync_client_free(mpsync_client *client);

/**
 * Why the last call on \p client that returned an error failed, as text (the code's name and
 * the detail, e.g. "MPSYNC_ETOOLONG: user_id over 100 characters"), like sqlite3_errmsg(). With
 * NULL, the reason the last mpsync_client_new() of the calling thread failed. Never NULL. The
 * text is copied into a buffer of the calling thread: valid until that thread's next call of
 * this function. Any thread.
 */
MPSYNC_EXTERN const char *mpsync_last_error(mpsync_client *client);

/**
 * Binds the logged-in user (C2, C9). Reconnects if the user or session changed. When it returns,
 * no callback is running with another user's data and none will start (called from a callback,
 * it cannot wait for the others: only the "none will start" half holds). Any thread.
 * Binding the user and session already bound changes nothing (apps do it at every start).
 * \return 0; MPSYNC_EINVAL (NULL/empty user_id, or user_id or session_id not valid UTF-8),
 *         MPSYNC_ETOOLONG (user_id or session_id over 100 characters — Unicode code points, the
 *         one limit the server applies too), MPSYNC_ESHUTDOWN, MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_bind_user(mpsync_client *client, const char *user_id,
                                   const char *session_id);

/** Unbinds the user (logout): when it returns no callback runs with that user's data and none will
 * start (C9; the same caveat from a callback as mpsync_bind_user()). Any thread.
 * \return 0; MPSYNC_EINVAL, MPSYNC_ESHUTDOWN, MPSYNC_ENOMEM. */
MPSYNC_EXTERN int mpsync_clear_user(mpsync_client *client);

/** The app came to the foreground: connect or keep the link (C1). Any thread.
 * \return 0; MPSYNC_EINVAL, MPSYNC_ESHUTDOWN, MPSYNC_ENOMEM. */
MPSYNC_EXTERN int mpsync_foreground(mpsync_client *client);

/** The app went to the background: close the link and stay silent (C1). Any thread.
 * \return 0; MPSYNC_EINVAL, MPSYNC_ESHUTDOWN, MPSYNC_ENOMEM. */
MPSYNC_EXTERN int mpsync_background(mpsync_client *client);

/** Kinds of network, for mpsync_network_changed(). */
typedef enum mpsync_network_type {
  MPSYNC_NETWORK_UNKNOWN = 0,  /**< not known, or none */
  MPSYNC_NETWORK_WIFI = 1,     /**< Wi-Fi */
  MPSYNC_NETWORK_CELLULAR = 2, /**< mobile data */
  MPSYNC_NETWORK_ETHERNET = 3  /**< wired */
} mpsync_network_type;

/**
 * A hint from the OS that the network changed (C11): a backgrounded client only notes it; a
 * foreground one replaces its link at once instead of waiting for the heartbeat to notice, and
 * uses the heartbeat interval it learned for that kind of network. Any thread.
 * \return 0; MPSYNC_EINVAL; MPSYNC_ESHUTDOWN; MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_network_changed(mpsync_client *client, mpsync_network_type type);

/** Non-zero while the link is connected and the handshake done (C13). Any thread. */
MPSYNC_EXTERN int mpsync_is_connected(mpsync_client *client);

/** The current connection state. Any thread. */
MPSYNC_EXTERN mpsync_state mpsync_get_state(mpsync_client *client);

/**
 * Copies the device id (C17), NUL-terminated, into \p buf. Any thread.
 * The id is stable for an install, with one exception: when two installs turn out to share it (a
 * backup restored onto a second phone), the copy takes a new id (docs/SEMANTICS.md). Ask again
 * rather than keeping the first answer.
 * \return its length; MPSYNC_EINVAL; MPSYNC_ETOOLONG when \p len is too small (64 always suffices).
 */
MPSYNC_EXTERN int mpsync_device_id(mpsync_client *client, char *buf, size_t len);

/** @} */

/**
 * \defgroup meta meta.config
 * The mPaaS `meta.config` file (C16): a JSON object with `appId`, `appKey`, `workspaceId`,
 * `syncserver` and `syncport`. libmpsync also reads its own optional keys `mpsyncPlaintext`
 * (boolean: plain TCP, for a local mock server only), `mpsyncCaFile` and `mpsyncPin` (a string
 * of comma-separated pins, or a JSON array of them).
 * @{
 */

/** A parsed meta.config; strings applied to a config live as long as it does. */
typedef struct mpsync_meta mpsync_meta;

/**
 * Reads and parses \p path. Any thread.
 * \return 0 and *out set; MPSYNC_EINVAL (NULL argument), MPSYNC_EIO (unreadable file),
 *         MPSYNC_ECONFIG (not a JSON object, a key of the wrong type, or appId, workspaceId,
 *         syncserver or syncport missing), MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_meta_load(const char *path, mpsync_meta **out);

/**
 * Sets cfg->host, cfg->port, cfg->instance_id ("workspaceId_appId"), and plaintext, ca_file and
 * pin_sha256 when the file names them. The pointers stay valid until mpsync_meta_free(). Any thread.
 * \return 0; MPSYNC_EINVAL.
 */
MPSYNC_EXTERN int mpsync_meta_apply(const mpsync_meta *meta, mpsync_config *cfg);

/**
 * The value of a top-level key as text (numbers and booleans rendered, "true"/"false"), or NULL
 * when absent. Valid until mpsync_meta_free(). Any thread.
 */
MPSYNC_EXTERN const char *mpsync_meta_get(const mpsync_meta *meta, const char *key);

/** Frees a parsed meta.config. NULL is a no-op. */
MPSYNC_EXTERN void mpsync_meta_free(mpsync_meta *meta);

/** @} */

/**
 * \defgroup messages Messages
 * @{
 */

/** One oplog of a delivered message, reached with mpsync_message_oplog(). Fields are only ever
 * appended: never copy it by value or step through oplogs by pointer arithmetic. */
typedef struct mpsync_oplog {
  uint64_t id;                 /**< oplog id, strictly increasing within its stream */
  const uint8_t *payload;      /**< payload bytes (text payloads are UTF-8, not NUL-terminated) */
  size_t payload_len;          /**< payload length in bytes */
  int binary;                  /**< non-zero when pushed as binaryPayload */
  const char *third_msg_id;    /**< the business server's thirdMsgId */
  int64_t create_time_ms;      /**< when the server accepted the push, epoch ms */
  int64_t valid_time_end_ms;   /**< validTimeEnd, epoch ms; 0 = none */
} mpsync_oplog;

/**
 * A delivered message: one or more oplogs of one bizType, in id order. Built by the SDK (an app
 * never builds one); every pointer in it, and every oplog reached from it, is valid only during
 * the callback. Fields are only ever appended.
 */
typedef struct mpsync_message {
  const char *biz;              /**< bizType */
  const char *user_id;          /**< the user the oplogs belong to; "" for device/global data */
  const char *id;               /**< opaque message id for mpsync_report() */
  int has_more;                 /**< non-zero when more oplogs of this bizType are waiting */
  unsigned delivery;            /**< 1 for the first delivery, 2 for the first redelivery, ... */
  size_t count;                 /**< number of oplogs: mpsync_message_oplog() takes 0..count-1 */
} mpsync_message;

/**
 * The oplog at \p index (0 .. msg->count - 1, in id order) of a message handed to a callback.
 * Valid while the message is. Any thread.
 * \return the oplog; NULL for a NULL message or an index out of range.
 */
MPSYNC_EXTERN const mpsync_oplog *mpsync_message_oplog(const mpsync_message *msg, size_t index);

/**
 * Message callback for one bizType. Runs on a delivery thread; one message per bizType is in
 * flight until it is reported (C4), and callbacks of one bizType never overlap. May call any API
 * function except mpsync_client_free().
 */
typedef void (*mpsync_message_fn)(mpsync_client *client, const mpsync_message *msg,
                                  void *user_data);

/**
 * Registers the callback of \p biz, replacing any earlier one, and dispatches its cached backlog
 * (C7). The bizType string is copied. Any thread, including a callback.
 * \return 0; MPSYNC_EINVAL (NULL fn, bizType empty, over 30 characters or with spaces),
 *         MPSYNC_ESHUTDOWN, MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_register_biz(mpsync_client *client, const char *biz,
                                      mpsync_message_fn fn, void *user_data);

/**
 * Stops dispatch of \p biz; its oplogs stay cached (C7). Called from outside the SDK's callbacks,
 * it returns once no callback of \p biz is running, and none starts afterwards. Called from a
 * callback, it does not wait (two callbacks waiting for each other would never finish); no new
 * callback of \p biz starts after it returns. Any thread.
 * \return 0; MPSYNC_EINVAL; MPSYNC_ENOTFOUND (not registered); MPSYNC_ESHUTDOWN.
 */
MPSYNC_EXTERN int mpsync_unregister_biz(mpsync_client *client, const char *biz);

/**
 * Reports a message received (C5): its oplogs are deleted from the cache and the next message of
 * that bizType is dispatched. Returns once the deletion is committed: from then on the message is
 * never delivered again, even after a crash. Only the message in flight can be reported; anything
 * else is refused and changes nothing. Any thread, including the callback; it waits for the
 * network thread, typically well under a millisecond.
 * A message withdrawn while its callback ran (its bizType unregistered, its user switched away)
 * may still be reported, as the app did receive it.
 * \return 0 (deleted); MPSYNC_ESTALE (not the message in flight: already reported, given up, or
 *         handed out again since); MPSYNC_EINVAL (malformed id); MPSYNC_ESTORE (the deletion
 *         failed: the message stays and will be redelivered); MPSYNC_ESHUTDOWN; MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_report(mpsync_client *client, const char *biz, const char *msg_id);

/**
 * Deletes everything cached for \p user_id — undelivered oplogs and sync points of his streams —
 * for a logout with "forget me". Safe while messages arrive: it runs in order with them on the
 * network thread, and returns once committed. The server does not send this device what it
 * already acknowledged, so purged data does not come back. Any thread.
 * \return 0; MPSYNC_EINVAL; MPSYNC_ESTORE; MPSYNC_ESHUTDOWN; MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_purge_user(mpsync_client *client, const char *user_id);

/**
 * Deletes every cached oplog and sync point, of every user and the device; the device id stays.
 * Returns once committed. Any thread.
 * \return 0; MPSYNC_EINVAL; MPSYNC_ESTORE; MPSYNC_ESHUTDOWN; MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_purge_all(mpsync_client *client);

/**
 * Renders the vendor `msgData` JSON array of \p msg (SPEC §5): one object per oplog with
 * "mk", "st", "bId", "ext", "mct", "pl" and "isB":"1" for binary payloads (pl then base64).
 * The output is always valid JSON and UTF-8: in text, each maximal ill-formed UTF-8 subpart
 * becomes one U+FFFD (Unicode §3.9); control characters and U+2028/2029 are escaped (\\u2028).
 * \return 0 and *out a NUL-terminated string to free with mpsync_free(); MPSYNC_EINVAL,
 *         MPSYNC_ENOMEM.
 */
MPSYNC_EXTERN int mpsync_message_to_json(const mpsync_message *msg, char **out);

/** Frees memory returned by this library. NULL is a no-op. */
MPSYNC_EXTERN void mpsync_free(void *p);

/** @} */

/**
 * \defgroup misc Errors and version
 * @{
 */

/** The message of an error code; never NULL ("unknown error" for codes not in the table). */
MPSYNC_EXTERN const char *mpsync_strerror(int err);

/** The name of an error code ("MPSYNC_EINVAL"); never NULL. */
MPSYNC_EXTERN const char *mpsync_err_name(int err);

/** The runtime library version, "MAJOR.MINOR.PATCH". */
MPSYNC_EXTERN const char *mpsync_version(void);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* MPSYNC_H */
