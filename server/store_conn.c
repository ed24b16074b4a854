/*
 * One reconnecting Redis connection (store_conn.h): hiredis async on our
 * libuv adapter, back-off between attempts, and the list of commands in
 * flight that the watchdog looks at.
 */
#include "store_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_uv.h"

/* Back-off between connection attempts, and how often failures are logged:
 * a Redis that stays down must not fill the log. */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define LOG_EVERY_N_FAILS 30

static void conn_connect(lc__conn_t *c);

/* ---- requests ---- */

lc__req_t *lc__req_alloc(size_t size, int argc, size_t bytes, char **data) {
    size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    lc__req_t *r = calloc(1, size + (size_t)argc * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (!r) return NULL;
    lc_list_init(&r->link);
    r->argc = argc;
    r->argv = (const char **)((char *)r + size);
    r->argvlen = (size_t *)(r->argv + argc);
    *data = (char *)(r->argvlen + argc);
    return r;
}

void lc__req_word(lc__req_t *r, int i, char **data, const char *p, size_t n) {
    if (n) memcpy(*data, p, n);
    r->argv[i] = *data;
    r->argvlen[i] = n;
    *data += n;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
    (void)ac;
    lc__req_t *r = priv;
    lc_list_remove(&r->link);
    r->conn->npending--;
    r->done(r, reply);
}

int lc__conn_send(lc__conn_t *c, lc__req_t *r) {
    if (!c->ac || c->closing ||
        redisAsyncCommandArgv(c->ac, on_reply, r, r->argc, r->argv, r->argvlen) != REDIS_OK)
        return -1;
    r->conn = c;
    r->sent_ms = uv_now(c->loop);
    r->sent_ns = uv_hrtime();
    lc_list_push_back(&c->pending, &r->link);
    c->npending++;
    return 0;
}

/* ---- state ---- */

static void set_state(lc__conn_t *c, lc__conn_state_t state) {
    int was_up = c->state == LC__CONN_UP;
    c->state = state;
    if (was_up != (state == LC__CONN_UP) && !c->closing && c->on_change) c->on_change(c);
}

static void on_retry(uv_timer_t *t) { conn_connect(t->data); }

static void went_down(lc__conn_t *c, const char *why) {
    if (c->fails++ % LOG_EVERY_N_FAILS == 0)
        lc_log("redis: %s connection to %s:%d %s: %s; retrying", c->name, c->host, c->port,
               c->state == LC__CONN_UP ? "lost" : "failed", why);
    set_state(c, LC__CONN_DOWN);
    if (c->closing) return;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RETRY_MIN_MS;
    if (c->backoff_ms > RETRY_MAX_MS) c->backoff_ms = RETRY_MAX_MS;
    if (uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0) != 0)
        lc_log("redis: cannot start the %s reconnect timer", c->name);
}

void lc__conn_ready(lc__conn_t *c) {
    if (c->fails) lc_log("redis: %s connection to %s:%d is back", c->name, c->host, c->port);
    c->fails = 0;
    c->backoff_ms = 0;
    set_state(c, LC__CONN_UP);
}

/* ---- hiredis callbacks ---- */

static void on_connect(const redisAsyncContext *ac, int status) {
    lc__conn_t *c = ac->data;
    if (!c) return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees the context after this callback */
        went_down(c, ac->errstr);
        return;
    }
    if (redisEnableKeepAlive((redisContext *)&ac->c) != REDIS_OK)
        lc_log("redis: cannot enable TCP keep-alive on the %s connection", c->name);
    set_state(c, LC__CONN_PREPARING);
    c->started_ms = uv_now(c->loop);
    c->on_connect(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    (void)status;
    lc__conn_t *c = ac->data;
    if (!c || c->ac != ac) return;
    c->ac = NULL; /* hiredis frees the context after this callback */
    went_down(c, ac->errstr[0] ? ac->errstr : "closed");
}

static void conn_connect(lc__conn_t *c) {
    if (c->closing) return;
    redisAsyncContext *ac = redisAsyncConnect(c->host, c->port);
    if (!ac) {
        went_down(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        went_down(c, why);
        return;
    }
    /* our adapter, not hiredis's adapters/libuv.h: see redis_uv.h */
    if (lc_redis_uv_attach(ac, c->loop) != 0) {
        redisAsyncFree(ac);
        went_down(c, "cannot attach to the loop");
        return;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    c->started_ms = uv_now(c->loop);
    set_state(c, LC__CONN_CONNECTING);
}

int lc__conn_start(lc__conn_t *c) {
    lc_list_init(&c->pending);
    c->npending = 0;
    c->ac = NULL;
    c->state = LC__CONN_DOWN;
    if (uv_timer_init(c->loop, &c->retry) != 0) return -1;
    c->retry.data = c;
    conn_connect(c);
    return 0;
}

/* ---- dropping ---- */

/* Frees the context from outside hiredis callbacks: pending commands'
 * done() run now with NULL. The connection is not up meanwhile (a done()
 * that sends something is refused). */
static void free_context(lc__conn_t *c) {
    redisAsyncContext *ac = c->ac;
    lc__conn_state_t was = c->state;
    c->ac = NULL;
    ac->data = NULL;
    c->state = LC__CONN_CONNECTING;
    redisAsyncFree(ac);
    c->state = was;
}

void lc__conn_check(lc__conn_t *c, unsigned timeout_ms) {
    if (!c->ac) return;
    uint64_t now = uv_now(c->loop);
    lc_list_t *oldest = lc_list_first(&c->pending);
    const char *why = NULL;
    if ((c->state == LC__CONN_CONNECTING || c->state == LC__CONN_PREPARING) && now - c->started_ms > timeout_ms)
        why = "no answer while connecting";
    else if (c->state == LC__CONN_UP && oldest &&
             now - LC_CONTAINER_OF(oldest, lc__req_t, link)->sent_ms > timeout_ms)
        why = "a command got no reply in time";
    if (!why) return;
    free_context(c);
    went_down(c, why);
}

void lc__conn_close(lc__conn_t *c, uv_close_cb close_cb) {
    c->closing = 1;
    if (c->ac) free_context(c);
    c->state = LC__CONN_DOWN;
    c->retry.data = c->owner;
    uv_close((uv_handle_t *)&c->retry, close_cb);
}
