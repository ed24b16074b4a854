/*
 * A shard without sockets or Redis for unit tests of the room engine and
 * the features: the real conn.c, room*.c, session.c and the features, on a
 * real libuv loop, over the stub store and the stub transport (stub.h).
 * Each test file includes this once.
 */
#ifndef LC_TEST_ROOM_ENV_H
#define LC_TEST_ROOM_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "lc_test.h"
#include "room.h"
#include "session.h"
#include "stub.h"

typedef struct env {
    uv_loop_t loop;
    lc_server_t srv;
    stub_store_t *store;
    stub_sock_t socks[64];
    size_t nsocks;
} env_t;

/* A shard with default flags plus extra (NULL-terminated argv tail) and
 * these features. */
static inline env_t *env_new(const lc_feature_t *const *features, const char *const *extra) {
    env_t *e = calloc(1, sizeof(*e));
    const char *argv[32] = {"livecart-server", "--redis", "127.0.0.1:1", "--shard", "test"};
    int argc = 5;
    for (size_t i = 0; extra && extra[i] && argc < 31; i++) argv[argc++] = extra[i];
    if (lc_config_parse(&e->srv.cfg, argc, (char **)argv, stdout, stderr) != 0) abort();
    uv_loop_init(&e->loop);
    e->srv.loop = &e->loop;
    snprintf(e->srv.boot, sizeof(e->srv.boot), "boot1");
    e->store = stub_store_new();
    e->srv.store = (lc_store_t *)e->store;
    e->srv.auth = lc_auth_create(&e->srv.cfg);
    e->srv.conns = lc_conns_create(&e->srv, &stub_io);
    e->srv.rooms = lc_rooms_create(&e->srv, features);
    e->srv.session = lc_session_create(&e->srv, features);
    if (!e->srv.auth || !e->srv.conns || !e->srv.rooms || !e->srv.session) abort();
    return e;
}

/* Runs one loop iteration: the write path's flush. */
static inline void env_flush(env_t *e) { uv_run(&e->loop, UV_RUN_NOWAIT); }

/* Advances the loop's clock by ms (uv_now is what the engine reads). */
static inline void env_sleep(env_t *e, unsigned ms) {
    uv_sleep(ms);
    uv_update_time(&e->loop);
}

static inline void env_close_one(lc_conn_t *c, void *arg) { lc_session_closed(c); }

/* Answers what is still at the "store" (as a dropped connection would),
 * closes every connection, and frees the shard: nothing may leak. */
static inline void env_free(env_t *e) {
    for (size_t i = 0; i < e->store->ncalls; i++)
        if (!e->store->calls[i].answered) stub_answer_status(&e->store->calls[i], LC_STORE_UNKNOWN);
    lc_conns_foreach(e->srv.conns, env_close_one, NULL);
    lc_conns_destroy(e->srv.conns);
    lc_rooms_destroy(e->srv.rooms);
    lc_session_destroy(e->srv.session);
    lc_auth_destroy(e->srv.auth);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_loop_close(&e->loop);
    lc_buf_free(&e->srv.scratch);
    stub_store_free(e->store);
    free(e);
}

/* A connection to room (not said hello yet) on a fresh stub socket. */
static inline lc_conn_t *env_conn(env_t *e, const char *room, lc_fmt_t fmt, stub_sock_t **sock) {
    stub_sock_t *s = &e->socks[e->nsocks++];
    lc_conn_t *c = lc_session_open(&e->srv, s, fmt, room, strlen(room));
    if (sock) *sock = s;
    return c;
}

/* A connection that said hello (role NULL: viewer) and got its welcome
 * (an empty history), its writes flushed. */
static inline lc_conn_t *env_joined(env_t *e, const char *room, const char *user, const char *role, lc_fmt_t fmt,
                                    stub_sock_t **sock);

/* Sends a client message (as the client would: encoded, then decoded by
 * the session). */
static inline void env_say(lc_conn_t *c, const lc_msg_t *m) {
    lc_buf_t b = LC_BUF_INIT;
    if (lc_msg_encode(m, (lc_fmt_t)c->fmt, &b) != 0) abort();
    lc_session_on_frame(c, b.p, b.len, c->fmt == LC_FMT_MSGPACK);
    lc_buf_free(&b);
}

static inline void env_hello(lc_conn_t *c, const char *user, const char *role) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_HELLO);
    lc_msg_set(&m, user, lc_cstr(user));
    if (role) lc_msg_set(&m, role, lc_cstr(role));
    env_say(c, &m);
}

/* A message on room's channel, as another shard (or a script) sent it. */
static inline void env_bus(env_t *e, const char *room, const lc_msg_t *m) {
    lc_buf_t b = LC_BUF_INIT;
    if (lc_msg_encode(m, LC_FMT_MSGPACK, &b) != 0) abort();
    lc_rooms_on_message(e->srv.rooms, lc_cstr(room), (const char *)b.p, b.len);
    lc_buf_free(&b);
}

static inline void env_comment_msg(lc_msg_t *m, const char *id, const char *user, const char *text) {
    lc_msg_init(m, LC_MSG_COMMENT);
    lc_msg_set(m, id, lc_cstr(id));
    lc_msg_set(m, user, lc_cstr(user));
    lc_msg_set(m, text, lc_cstr(text));
    lc_msg_set(m, ts, (int64_t)strtoll(id, NULL, 10));
}

/* Answers the last join with a room_state holding comments ids[0..n) (by
 * "alice"), newest last; last = the newest. */
static inline void env_answer_join(env_t *e, const char *const *ids, size_t n, int64_t likes, int64_t others) {
    stub_call_t *c = stub_last(e->store, STUB_JOIN);
    lc_msg_t items[32], st;
    for (size_t i = 0; i < n; i++) env_comment_msg(&items[i], ids[i], "alice", ids[i]);
    lc_msg_init(&st, LC_MSG_ROOM_STATE);
    lc_msg_set(&st, likes, likes);
    lc_msg_set(&st, viewers, others);
    lc_msg_set(&st, last, lc_cstr(n ? ids[n - 1] : "0-0"));
    lc_msg_list_t h = {items, n};
    lc_msg_set(&st, history, h);
    if (c->a[0]) lc_msg_set(&st, recovered, 1);
    stub_answer_msg(c, &st);
}

static inline lc_conn_t *env_joined(env_t *e, const char *room, const char *user, const char *role, lc_fmt_t fmt,
                                    stub_sock_t **sock) {
    lc_conn_t *c = env_conn(e, room, fmt, sock);
    env_hello(c, user, role);
    lc_rooms_on_subscribed(e->srv.rooms, lc_cstr(room));
    if (c->state == LC_CONN_JOINING) env_answer_join(e, NULL, 0, 0, 0);
    env_flush(e);
    return c;
}

/* The messages written to s (decoded; cleared by env_clear). */
typedef struct seen {
    lc_msg_t m[256];
    size_t n;
} seen_t;

static inline void env_seen(const stub_sock_t *s, lc_fmt_t fmt, seen_t *out) {
    for (size_t i = 0; i < 256; i++) lc_msg_init(&out->m[i], LC_MSG_NONE);
    out->n = stub_frames(s, fmt, out->m, 256);
}

static inline void env_clear(seen_t *s) {
    for (size_t i = 0; i < s->n; i++) lc_msg_clear(&s->m[i]);
    s->n = 0;
}

/* The comment texts in what s got, joined with ',' (for CHECKs). */
static inline const char *env_texts(const seen_t *s, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n && o + 1 < cap; i++) {
        const lc_msg_t *m = &s->m[i];
        if (m->type == LC_MSG_COMMENT)
            o += (size_t)snprintf(buf + o, cap - o, "%s%.*s", o ? "," : "", (int)m->text.n, m->text.p);
        else if (m->type == LC_MSG_WELCOME)
            for (size_t k = 0; k < m->history.n && o + 1 < cap; k++)
                o += (size_t)snprintf(buf + o, cap - o, "%sw:%.*s", o ? "," : "", (int)m->history.items[k].text.n,
                                      m->history.items[k].text.p);
        else if (m->type == LC_MSG_GAP)
            o += (size_t)snprintf(buf + o, cap - o, "%sgap:%.*s", o ? "," : "", (int)m->last.n, m->last.p);
    }
    return buf;
}

#endif
