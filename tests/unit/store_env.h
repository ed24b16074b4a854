/*
 * A real store on a real Redis, for unit tests of the store: redis-server on
 * a free loopback port (no persistence, killed by its pid), a plain hiredis
 * client of it to set things up and look, the libuv loop, the answers of
 * calls and the messages of the rooms' channels, captured. Each test file
 * includes this once.
 */
#ifndef LC_TEST_STORE_ENV_H
#define LC_TEST_STORE_ENV_H

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lc_test.h"
#include "store.h"

/* ---- redis-server ---- */

typedef struct lc_redis_server {
    pid_t pid;
    int port;
    redisContext *c; /* a plain client, connected once the server answers */
} lc_redis_server_t;

/* A port nothing listens on right now: bind one, read its number, close it. */
static inline int lc_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Starts redis-server with extra "--name value" options (NULL-terminated
 * argv tail, at most 16) and waits until it answers (5 s). Returns 0, or -1
 * when it cannot be run (then the caller may skip: exit 77). */
static inline int lc_redis_start(lc_redis_server_t *r, const char *const *extra) {
    char port[16];
    r->c = NULL;
    r->port = lc_free_port();
    if (r->port < 0) return -1;
    snprintf(port, sizeof(port), "%d", r->port);
    const char *argv[32] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"};
    int n = 9;
    for (int i = 0; extra && extra[i] && i < 16; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    r->pid = fork();
    if (r->pid < 0) return -1;
    if (r->pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(126);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = -1; /* it exited: not installed, or the port was taken */
            return -1;
        }
        r->c = redisConnect("127.0.0.1", r->port);
        if (r->c && !r->c->err) return 0;
        redisFree(r->c);
        r->c = NULL;
        usleep(50000);
    }
    return -1;
}

static inline void lc_redis_stop(lc_redis_server_t *r) {
    if (r->c) redisFree(r->c);
    r->c = NULL;
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = -1;
}

/* ---- the store, its Redis and the loop ---- */

static uv_loop_t loop;
static lc_store_t *st;         /* the store under test */
static lc_redis_server_t srv;  /* its Redis */
static redisContext *rd;       /* a plain client of it, to set things up and look */

/* Runs a command on the plain client; returns the reply's integer (or 0). */
static inline long long redis_do(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rd, fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    if (!r || r->type == REDIS_REPLY_ERROR) fprintf(stderr, "redis: %s: %s\n", fmt, r ? r->str : rd->errstr);
    freeReplyObject(r);
    return v;
}

/* ---- the loop ---- */

static int timed_out;
static inline void on_deadline(uv_timer_t *t) { (void)t, timed_out = 1; }

/* Runs the loop until pred(arg) or ms pass; returns pred's last value. */
static inline int wait_until(int (*pred)(const void *), const void *arg, unsigned ms) {
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_deadline, ms, 0);
    timed_out = 0;
    while (!pred(arg) && !timed_out) uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return pred(arg);
}
static inline int nonzero(const void *p) { return *(const int *)p != 0; }
static inline int up(const void *s) { return lc_store_up(s) && lc_store_sub_up(s); }
static inline int idle(const void *s) { return lc_store_pending(s) == 0; }

/* ---- answers ---- */

typedef struct got {
    int n, status;
    int64_t i;
    lc_msg_t m; /* our own copy of the answer */
} got_t;

/* Copies m by a round trip through msgpack (the callback's m dies with it). */
static inline void copy_msg(lc_msg_t *dst, const lc_msg_t *m) {
    lc_buf_t b = LC_BUF_INIT;
    lc_msg_init(dst, LC_MSG_NONE);
    CHECK(lc_msg_encode(m, LC_FMT_MSGPACK, &b) == 0);
    CHECK(lc_msg_decode(dst, LC_FMT_MSGPACK, LC_DIR_S2C | LC_DIR_BUS, b.p, b.len, NULL) == 0);
    lc_buf_free(&b);
}

static inline void on_msg(void *arg, int status, const lc_msg_t *m) {
    got_t *g = arg;
    g->n++;
    g->status = status;
    CHECK((status == LC_STORE_OK) == (m != NULL));
    if (m) copy_msg(&g->m, m);
}

static inline void on_int(void *arg, int status, int64_t v) {
    got_t *g = arg;
    g->n++;
    g->status = status;
    g->i = v;
}

/* Sends one call answering into g and waits for it (5 s at most). */
#define SEND(g, call)                          \
    do {                                       \
        memset(&(g), 0, sizeof(g));            \
        CHECK((call) == 0);                    \
        wait_until(nonzero, &(g).n, 5000);     \
        CHECK_EQ_INT((g).n, 1);                \
    } while (0)
#define S(x) lc_cstr(x)
#define ST(g, want) CHECK((g).status == LC_STORE_OK && lc_str_eq((g).m.status, want))
/* The answer of call has status want (and is dropped). */
#define EXPECT(call, want)      \
    do {                        \
        got_t g_ = (call);      \
        ST(g_, want);           \
        lc_msg_clear(&g_.m);    \
    } while (0)

/* ---- what the channel carries ---- */

enum { BUS_MAX = 64 };
static lc_msg_t bus[BUS_MAX];
static int nbus, nsubscribed;

static inline void ev_state(void *arg) { (void)arg; }
static inline void ev_subscribed(void *arg, lc_str_t room) { (void)arg, (void)room, nsubscribed++; }
static inline void ev_message(void *arg, lc_str_t room, const char *p, size_t n) {
    (void)arg, (void)room;
    lc_proto_err_t err;
    if (nbus == BUS_MAX) return;
    int rc = lc_msg_decode(&bus[nbus], LC_FMT_MSGPACK, LC_DIR_S2C | LC_DIR_BUS, p, n, &err);
    if (rc != 0) fprintf(stderr, "bus message does not decode: %s\n", err.message);
    CHECK(rc == 0);
    if (rc == 0) nbus++;
}
static const lc_store_events_t events = {.on_state = ev_state, .on_subscribed = ev_subscribed, .on_message = ev_message};

static inline void bus_clear(void) {
    for (int i = 0; i < nbus; i++) lc_msg_clear(&bus[i]);
    nbus = 0;
}
static const lc_msg_t *bus_find(lc_msg_type_t t) {
    for (int i = nbus - 1; i >= 0; i--)
        if (bus[i].type == t) return &bus[i];
    return NULL;
}
static inline int bus_has(const void *t) { return bus_find(*(const lc_msg_type_t *)t) != NULL; }
static inline const lc_msg_t *bus_wait(lc_msg_type_t t) {
    wait_until(bus_has, &t, 3000);
    return bus_find(t);
}

static inline int at_least(const void *want) { return nsubscribed >= *(const int *)want; }
static inline void subscribe(const char *room) {
    int want = nsubscribed + 1;
    CHECK(lc_store_subscribe(st, S(room)) == 0);
    CHECK(wait_until(at_least, &want, 3000));
}

/* ---- main ---- */

/* A test file's main: Redis started with opts (NULL-terminated), the store
 * connected, run() called, everything torn down. Returns the exit status
 * (77: skipped, no redis-server). */
static inline int lc_store_env_main(void (*run)(void), const char *const *opts) {
    signal(SIGPIPE, SIG_IGN);
    if (lc_redis_start(&srv, opts) != 0) {
        fprintf(stderr, "redis-server cannot be started: skipped\n");
        lc_redis_stop(&srv);
        return 77;
    }
    rd = srv.c;
    uv_loop_init(&loop);
    lc_store_opts_t o = {.redis = {"127.0.0.1", srv.port}, .timeout_ms = 3000};
    st = lc_store_create(&loop, &o, &events, NULL);
    CHECK(st != NULL);
    CHECK(!lc_store_up(st));
    CHECK(wait_until(up, st, 5000));
    run();
    lc_store_destroy(st);
    bus_clear();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    lc_redis_stop(&srv);
    return lc_test_done();
}

#endif
