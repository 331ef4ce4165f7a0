/* mpsync-mock-server: entry point — options, listeners, signals, and an orderly shutdown. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "biz.h"
#include "http.h"
#include "mpsync/version.h"
#include "link.h"
#include "server.h"
#include "signature.h"
#include "validator.h"
#include "store.h"
#include "tls/tls.h"
#include "token.h"
#include "util.h"

#define EXIT_USAGE 2
#define PRUNE_INTERVAL_MS (3600u * 1000u)
#define DAY_MS 86400000LL

static void usage(FILE *to) {
  fprintf(to,
          "usage: mpsync-mock-server --http HOST:PORT --data DIR\n"
          "         [--link HOST:PORT] [--link-tls HOST:PORT --cert FILE --key FILE]\n"
          "         [--biz-file FILE] [--heartbeat SECONDS] [--heartbeat-timeout SECONDS]\n"
          "         [--heartbeat-max SECONDS] [--retention-days N]\n"
          "         [--http-timeout SECONDS] [--http-max-conns N] [--text-utf8 strict|lenient]\n"
          "         [--admin-token TOKEN] [--validate-url URL] [--validate-timeout MS] [--console]\n"
          "         [--ticket-lifetime SECONDS] [--exit-with-stdin]\n"
          "       mpsync-mock-server --help | --version\n"
          "       at least one of --link and --link-tls; without --admin-token a token is made,\n"
          "       printed on stderr and written to DIR/admin-token (docs/ADMIN.md)\n");
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *end || errno || v < min || v > max || *s == '-') return -1;
  *out = (unsigned)v;
  return 0;
}

/* TLS session tickets (issue 18): a ticket older than this is refused, and the ticket key is
 * replaced this often; 0 = no tickets, every handshake is a full one. mbedTLS's own advice. */
static unsigned ticket_lifetime_s = 86400;

/* HTTP limits (http.h), kept out of server_options: only the HTTP front reads them. */
static unsigned http_timeout_s = HTTP_DEFAULT_TIMEOUT_S;
static unsigned http_max_conns;

/* The default cap leaves three quarters of the descriptors to links, the store and the logs. */
static unsigned default_http_max_conns(void) {
  struct rlimit rl;
  unsigned cap = HTTP_DEFAULT_MAX_CONNS;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < cap)
    cap = rl.rlim_cur / 4 > 8 ? (unsigned)(rl.rlim_cur / 4) : 8;
  return cap;
}

/* Long options only: each one's val indexes the switch in parse_args. New options go at the end
 * of the enum and the table, one line each, so that parallel additions merge cleanly. */
enum {
  OPT_HELP = 'h',
  OPT_VERSION = 'V',
  OPT_HTTP = 256,
  OPT_LINK,
  OPT_LINK_TLS,
  OPT_CERT,
  OPT_KEY,
  OPT_DATA,
  OPT_BIZ_FILE,
  OPT_HEARTBEAT,
  OPT_HEARTBEAT_TIMEOUT,
  OPT_HEARTBEAT_MAX,
  OPT_RETENTION_DAYS,
  OPT_HTTP_TIMEOUT,
  OPT_HTTP_MAX_CONNS,
  OPT_TEXT_UTF8,
  OPT_ADMIN_TOKEN,
  OPT_VALIDATE_URL,
  OPT_VALIDATE_TIMEOUT,
  OPT_CONSOLE,
  OPT_EXIT_WITH_STDIN,
  OPT_TICKET_LIFETIME,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"http", required_argument, NULL, OPT_HTTP},
    {"link", required_argument, NULL, OPT_LINK},
    {"link-tls", required_argument, NULL, OPT_LINK_TLS},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"data", required_argument, NULL, OPT_DATA},
    {"biz-file", required_argument, NULL, OPT_BIZ_FILE},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"heartbeat-timeout", required_argument, NULL, OPT_HEARTBEAT_TIMEOUT},
    {"heartbeat-max", required_argument, NULL, OPT_HEARTBEAT_MAX},
    {"retention-days", required_argument, NULL, OPT_RETENTION_DAYS},
    {"http-timeout", required_argument, NULL, OPT_HTTP_TIMEOUT},
    {"http-max-conns", required_argument, NULL, OPT_HTTP_MAX_CONNS},
    {"text-utf8", required_argument, NULL, OPT_TEXT_UTF8},
    {"admin-token", required_argument, NULL, OPT_ADMIN_TOKEN},
    {"validate-url", required_argument, NULL, OPT_VALIDATE_URL},
    {"validate-timeout", required_argument, NULL, OPT_VALIDATE_TIMEOUT},
    {"console", no_argument, NULL, OPT_CONSOLE},
    {"exit-with-stdin", no_argument, NULL, OPT_EXIT_WITH_STDIN},
    {"ticket-lifetime", required_argument, NULL, OPT_TICKET_LIFETIME},
    {NULL, 0, NULL, 0},
};

/* What parse_args decided besides the options: run, or exit at once with a code. */
enum { ARGS_RUN = -1 };

/* Returns ARGS_RUN, or the exit code for --help/--version (0) and usage errors (EXIT_USAGE). */
static int parse_args(int argc, char **argv, server_options *o) {
  memset(o, 0, sizeof *o);
  o->heartbeat_s = 30;
  o->heartbeat_timeout_s = 15;
  o->retention_days = 30;
  /* "+:" stops at the first operand (no reordering) and reports a missing value as ":"; our own
   * messages name the option as the user wrote it. */
  opterr = 0;
  for (;;) {
    int prev = optind ? optind : 1;
    int opt = getopt_long(argc, argv, "+:", long_options, NULL);
    if (opt == -1) break;
    const char *v = optarg;
    int bad = 0;
    switch (opt) {
      case OPT_HELP: usage(stdout); return 0;
      case OPT_VERSION: printf("mpsync-mock-server %s\n", MPSYNC_VERSION_STRING); return 0;
      case OPT_HTTP: o->http_addr = v; break;
      case OPT_LINK: o->link_addr = v; break;
      case OPT_LINK_TLS: o->link_tls_addr = v; break;
      case OPT_CERT: o->cert_file = v; break;
      case OPT_KEY: o->key_file = v; break;
      case OPT_DATA: o->data_dir = v; break;
      case OPT_BIZ_FILE: o->biz_file = v; break;
      case OPT_HEARTBEAT: bad = parse_uint(v, 1, 3600, &o->heartbeat_s); break;
      case OPT_HEARTBEAT_TIMEOUT: bad = parse_uint(v, 1, 3600, &o->heartbeat_timeout_s); break;
      case OPT_HEARTBEAT_MAX: bad = parse_uint(v, 0, 3600, &o->heartbeat_max_s); break;
      case OPT_RETENTION_DAYS: bad = parse_uint(v, 1, 36500, &o->retention_days); break;
      case OPT_HTTP_TIMEOUT: bad = parse_uint(v, 1, 3600, &http_timeout_s); break;
      case OPT_HTTP_MAX_CONNS: bad = parse_uint(v, 1, 1000000, &http_max_conns); break;
      case OPT_TEXT_UTF8:
        bad = strcmp(v, "strict") && strcmp(v, "lenient");
        json_lenient_utf8 = !strcmp(v, "lenient");
        break;
      case OPT_ADMIN_TOKEN: bad = admin_token_check(v); o->admin_token = v; break;
      case OPT_VALIDATE_URL:
        bad = strncmp(v, "http://", 7) && strncmp(v, "https://", 8);
        o->validate_url = v;
        break;
      case OPT_VALIDATE_TIMEOUT: bad = parse_uint(v, 1, 600000, &o->validate_timeout_ms); break;
      case OPT_CONSOLE: o->console = 1; break;
      case OPT_EXIT_WITH_STDIN: o->exit_with_stdin = 1; break;
      case OPT_TICKET_LIFETIME: bad = parse_uint(v, 0, 7 * 86400, &ticket_lifetime_s); break;
      case ':':
        fprintf(stderr, "mpsync-mock-server: %s needs a value\n", argv[prev]);
        return EXIT_USAGE;
      default:
        /* argv[prev] is the word getopt stopped at; with "--opt=value" print only the name. */
        fprintf(stderr, "mpsync-mock-server: unknown option %.*s\n",
                (int)strcspn(argv[prev], "="), argv[prev]);
        return EXIT_USAGE;
    }
    if (bad) {
      fprintf(stderr, "mpsync-mock-server: bad value for %s: %s\n", argv[prev], v);
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mpsync-mock-server: unexpected argument %s\n", argv[optind]);
    return EXIT_USAGE;
  }
  if (!o->http_addr || !o->data_dir || (!o->link_addr && !o->link_tls_addr)) {
    fprintf(stderr, "mpsync-mock-server: --http, --data and --link or --link-tls are required\n");
    return EXIT_USAGE;
  }
  if (o->link_tls_addr ? !o->cert_file || !o->key_file : o->cert_file || o->key_file) {
    fprintf(stderr, "mpsync-mock-server: --link-tls goes with --cert and --key\n");
    return EXIT_USAGE;
  }
  /* A maximum below the interval would tell clients to ping more often than asked. */
  if (o->heartbeat_max_s && o->heartbeat_max_s < o->heartbeat_s) {
    fprintf(stderr, "mpsync-mock-server: --heartbeat-max must be 0 or at least --heartbeat\n");
    return EXIT_USAGE;
  }
  return ARGS_RUN;
}

/* Biz file entries replace stored configs of the same (instanceId, bizType). */
static int load_biz_file(mock_server *srv) {
  if (!srv->opts.biz_file) return 0;
  biz_config *list;
  char err[512];
  int n = biz_load_file(srv->opts.biz_file, &list, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "mpsync-mock-server: %s\n", err);
    return -1;
  }
  int rc = store_begin(srv->st);
  for (int i = 0; i < n && rc == 0; i++) rc = store_biz_put(srv->st, &list[i]);
  if (rc == 0) rc = store_commit(srv->st);
  if (rc) {
    store_rollback(srv->st);
    fprintf(stderr, "mpsync-mock-server: cannot store the biz configs\n");
  }
  free(list);
  return rc;
}

static int listen_on(mock_server *srv, uv_tcp_t *tcp, const char *addr, uv_connection_cb cb,
                     char *bound, size_t n) {
  struct sockaddr_storage ss;
  if (parse_host_port(addr, &ss)) {
    fprintf(stderr, "mpsync-mock-server: bad address %s (want HOST:PORT or [V6]:PORT)\n", addr);
    return -1;
  }
  uv_tcp_init(srv->loop, tcp);
  tcp->data = srv;
  int rc = uv_tcp_bind(tcp, (const struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)tcp, 128, cb);
  if (rc) {
    fprintf(stderr, "mpsync-mock-server: cannot listen on %s: %s\n", addr, uv_strerror(rc));
    return -1;
  }
  int len = sizeof ss;
  uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len);
  format_sockaddr(&ss, bound, n);
  return 0;
}

static void close_if_open(uv_handle_t *h) {
  if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

void server_stop(mock_server *srv) {
  if (srv->stopping) return;
  srv->stopping = 1;
  close_if_open((uv_handle_t *)&srv->http_listener);
  close_if_open((uv_handle_t *)&srv->link_listener);
  close_if_open((uv_handle_t *)&srv->link_tls_listener);
  close_if_open((uv_handle_t *)&srv->sigint);
  close_if_open((uv_handle_t *)&srv->sigterm);
  close_if_open((uv_handle_t *)&srv->prune_timer);
  close_if_open((uv_handle_t *)&srv->parent_pipe);
  validator_close(srv);
  http_close_all(srv);
  link_close_all(srv);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)signum;
  server_stop(s->data);
}

int64_t server_retention_ms(const mock_server *srv) {
  return (int64_t)srv->opts.retention_days * DAY_MS;
}

static void prune(mock_server *srv) {
  store_prune(srv->st, wall_ms() - server_retention_ms(srv), NULL);
}

static void on_prune_timer(uv_timer_t *t) { prune(t->data); }

/* --exit-with-stdin: a test harness killed with -9 cannot stop its server, but its end of our
 * standard input closes with it. Whatever arrives on it is ignored; end of file (or an error)
 * stops the server as SIGTERM would. */
static void on_parent_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char sink[256];
  *buf = uv_buf_init(sink, sizeof sink);
}

static void on_parent_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  if (n < 0) server_stop(s->data);
}

static int watch_parent(mock_server *srv) {
  /* Only a pipe can close under us; a file or /dev/null would read end of file at once (and
   * epoll cannot watch them). */
  if (uv_guess_handle(STDIN_FILENO) != UV_NAMED_PIPE) {
    fprintf(stderr, "mpsync-mock-server: --exit-with-stdin needs standard input to be a pipe\n");
    return -1;
  }
  uv_pipe_init(srv->loop, &srv->parent_pipe, 0);
  srv->parent_pipe.data = srv;
  int rc = uv_pipe_open(&srv->parent_pipe, STDIN_FILENO);
  if (!rc) rc = uv_read_start((uv_stream_t *)&srv->parent_pipe, on_parent_alloc, on_parent_read);
  if (rc)
    fprintf(stderr, "mpsync-mock-server: --exit-with-stdin: %s\n", uv_strerror(rc));
  return rc;
}

static int start(mock_server *srv) {
  char err[512], http_bound[160], link_bound[160] = "", tls_bound[160] = "";
  if (mkdir(srv->opts.data_dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "mpsync-mock-server: cannot create %s: %s\n", srv->opts.data_dir,
            strerror(errno));
    return -1;
  }
  if (admin_token_setup(srv)) return -1;
  if (store_open(&srv->st, srv->opts.data_dir, err, sizeof err)) {
    fprintf(stderr, "mpsync-mock-server: %s\n", err);
    return -1;
  }
  if (load_biz_file(srv) || signature_init(srv) || validator_init(srv)) return -1;
  /* A bad certificate or key is a start-up error, not a failure of every later handshake. */
  if (srv->opts.link_tls_addr &&
      (mps_tls_server_config(srv->opts.cert_file, srv->opts.key_file, &srv->tls_cfg, err,
                             sizeof err) != 0 ||
       (ticket_lifetime_s &&
        mps_tls_server_tickets(srv->tls_cfg, ticket_lifetime_s, err, sizeof err) != 0))) {
    fprintf(stderr, "mpsync-mock-server: TLS: %s\n", err);
    return -1;
  }
  prune(srv);
  if (listen_on(srv, &srv->http_listener, srv->opts.http_addr, http_on_connection, http_bound,
                sizeof http_bound) ||
      (srv->opts.link_addr && listen_on(srv, &srv->link_listener, srv->opts.link_addr,
                                         link_on_connection, link_bound, sizeof link_bound)) ||
      (srv->opts.link_tls_addr &&
       listen_on(srv, &srv->link_tls_listener, srv->opts.link_tls_addr, link_on_tls_connection,
                 tls_bound, sizeof tls_bound)))
    return -1;
  uv_signal_init(srv->loop, &srv->sigint);
  uv_signal_init(srv->loop, &srv->sigterm);
  srv->sigint.data = srv->sigterm.data = srv;
  uv_signal_start(&srv->sigint, on_signal, SIGINT);
  uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
  uv_timer_init(srv->loop, &srv->prune_timer);
  srv->prune_timer.data = srv;
  uv_timer_start(&srv->prune_timer, on_prune_timer, PRUNE_INTERVAL_MS, PRUNE_INTERVAL_MS);
  uv_unref((uv_handle_t *)&srv->prune_timer);
  if (srv->opts.exit_with_stdin && watch_parent(srv)) return -1;
  /* Fields are space-separated key=value; http= and link= keep their place for older parsers. */
  printf("mpsync-mock-server ready http=%s%s%s%s%s\n", http_bound, link_bound[0] ? " link=" : "",
         link_bound, tls_bound[0] ? " link_tls=" : "", tls_bound);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  mock_server srv;
  memset(&srv, 0, sizeof srv);
  int done = parse_args(argc, argv, &srv.opts);
  if (done != ARGS_RUN) {
    if (done) usage(stderr);
    return done;
  }
  http_set_limits(http_timeout_s, http_max_conns ? http_max_conns : default_http_max_conns());
  /* A peer that vanishes mid-write must cost an error code, not the process. */
  signal(SIGPIPE, SIG_IGN);
  snprintf(srv.server_id, sizeof srv.server_id, "mpsync-mock-server/%ld", (long)getpid());
  uv_loop_t loop;
  uv_loop_init(&loop);
  srv.loop = &loop;
  int failed = start(&srv);
  if (failed) server_stop(&srv);
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (rc) fprintf(stderr, "mpsync-mock-server: loop not empty at exit: %s\n", uv_strerror(rc));
  signature_free(&srv);
  validator_free(&srv);
  store_close(srv.st);
  mps_tls_config_free(srv.tls_cfg);
  return failed ? EXIT_USAGE : 0;
}
