/*
 * What a connection's messages mean. See session.h.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "close.h"
#include "filter.h"
#include "log.h"
#include "room.h"
#include "store.h"

typedef void handler_fn(lc_conn_t *c, const lc_msg_t *m);

typedef struct handler {
    handler_fn *fn;
    uint8_t joined; /* only after welcome */
} handler_t;

struct lc_session {
    handler_t by_type[LC_MSG__COUNT];
};

/* ---- the core's messages ---- */

static int store_ready(const lc_conn_t *c) {
    return lc_store_up(c->srv->store) && lc_store_sub_up(c->srv->store);
}

/* Over a bucket: say so (the error frame is counted), and close a client
 * that keeps going. */
static void rate_limited(lc_conn_t *c, const char *what) {
    lc_conn_send_error(c, LC_ERR_RATE_LIMITED, "%s: slow down", what);
    lc_conn_limited(c);
}

static int exempt(const lc_conn_t *c) { return c->role == LC_ROLE_STREAMER; }

static void on_ping(lc_conn_t *c, const lc_msg_t *m) {
    lc_msg_t pong;
    lc_msg_init(&pong, LC_MSG_PONG);
    lc_conn_send_msg(c, &pong);
}

/* Hellos answered unavailable in a row: after HELLO_QUICK of them the next
 * one must wait HELLO_BACKOFF_MS (else rate_limited, and lc_conn_limited
 * closes a client that keeps going). Each hello costs a script and a log
 * line: a client spinning on a failing hello must not cost Redis a loop,
 * and one that re-sends it when Redis is back is answered at once. */
#define HELLO_QUICK 3
#define HELLO_BACKOFF_MS 200

static void on_hello(lc_conn_t *c, const lc_msg_t *m) {
    if (c->state != LC_CONN_NEW) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "hello: already said");
        return;
    }
    uint64_t now = uv_now(c->srv->loop);
    if (c->hello_fails >= HELLO_QUICK && now < c->hello_failed_ms + HELLO_BACKOFF_MS) {
        rate_limited(c, "hello after a refused one");
        return;
    }
    /* the one id no stream entry can follow (Redis refuses the range) */
    lc_sid_t since;
    if (lc_msg_has(m, since) && lc_sid_parse(&since, m->since.p, m->since.n) == 0 && since.ms == UINT64_MAX &&
        since.seq == UINT64_MAX) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "hello.since: no comment has that id");
        return;
    }
    if (lc_auth_hello(c->srv->auth, c, m) != 0) return;
    if (!store_ready(c)) {
        lc_conn_hello_failed(c);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry hello later");
        return;
    }
    lc_room_join(c->room, c, lc_msg_has(m, since) ? &m->since : NULL);
}

static void on_refresh(lc_conn_t *c, const lc_msg_t *m) { lc_auth_refresh(c->srv->auth, c, m); }

/* A comment in flight. Refusals must be counted "in a row" in the order
 * the client sent its frames, but a comment's verdict (slow mode) comes
 * from Redis later, after frames sent behind it may already have been
 * refused by the bucket. So accepting a frame resets the run tentatively and
 * remembers what it interrupted; a slow-mode refusal gives it back, plus
 * itself. */
typedef struct comment_op {
    lc_conn_t *c;
    uint32_t run_before;
} comment_op_t;

/* What comment.lua decided, when it decided: on ok the comment comes back
 * through the room's channel; on dup it already did (or is in the history
 * of the client's resume). */
static void comment_verdict(lc_conn_t *c, const lc_msg_t *r, uint32_t run_before) {
    if (lc_str_eq(r->status, "banned")) {
        lc_conn_banned(c);
    } else if (lc_str_eq(r->status, "muted")) {
        lc_conn_send_error(c, LC_ERR_MUTED, "muted in this room");
    } else if (lc_str_eq(r->status, "rate_limited")) {
        lc_conn_send_error(c, LC_ERR_RATE_LIMITED, "slow mode: wait before commenting again");
        c->limited += run_before; /* the run this frame seemed to end goes on */
        lc_conn_limited(c);                               /* ... and this frame is in it */
    }
}

static void on_comment_stored(void *arg, int status, const lc_msg_t *r) {
    comment_op_t *op = arg;
    lc_conn_t *c = op->c;
    uint32_t run_before = op->run_before;
    free(op);
    /* lost: it may be posted; with its req, the same comment again is posted once */
    if (!lc_conn_answer_lost(c, status, r, LC_MSG_REPLY,
                             "no answer from storage: the comment may be posted; send it again with the same req"))
        comment_verdict(c, r, run_before);
    lc_conn_unref(c);
}

static void on_comment(lc_conn_t *c, const lc_msg_t *m) {
    lc_server_t *srv = c->srv;
    if (!exempt(c) && !lc_bucket_take(&c->b_comment, srv->cfg.comment_rate, srv->cfg.comment_burst,
                                      uv_now(srv->loop))) {
        rate_limited(c, "comments");
        return;
    }
    if (lc_filter_match(srv->filter, m->text.p, m->text.n)) {
        lc_conn_send_error(c, LC_ERR_FILTERED, "comment refused by the word filter");
        return;
    }
    comment_op_t *op = malloc(sizeof(*op));
    if (!op) {
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "out of memory, retry later");
        return;
    }
    op->c = lc_conn_ref(c);
    op->run_before = c->limited;
    c->limited = 0;
    lc_store_comment_req_t req = {
        .room = lc_room_name(c->room), .user = lc_str(c->user, c->ulen), .text = m->text,
        .req = lc_msg_has(m, req) ? m->req : lc_str("", 0), .cap = srv->cfg.history,
        .req_ttl_s = srv->cfg.req_ttl_s, .exempt = c->role != LC_ROLE_VIEWER,
    };
    if (lc_store_comment(srv->store, &req, on_comment_stored, op) != 0) {
        c->limited = op->run_before;
        lc_conn_unref(c);
        free(op);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "comment not stored, retry later");
    }
}

static void on_like(lc_conn_t *c, const lc_msg_t *m) {
    lc_server_t *srv = c->srv;
    if (!exempt(c) && !lc_bucket_take(&c->b_like, srv->cfg.like_rate, srv->cfg.like_burst, uv_now(srv->loop))) {
        rate_limited(c, "likes");
        return;
    }
    c->limited = 0;
    lc_room_add_likes(c->room, c, m->count);
}

/* ---- the table ---- */

static int claim(lc_session_t *s, lc_msg_type_t t, handler_fn *fn, int joined, const char *who) {
    if (s->by_type[t].fn) {
        lc_log("session: %s and another handler both claim %s messages", who, lc_msg_type_name(t));
        return -1;
    }
    s->by_type[t] = (handler_t){fn, (uint8_t)joined};
    return 0;
}

lc_session_t *lc_session_create(lc_server_t *srv, const lc_feature_t *const *features) {
    lc_session_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    int bad = claim(s, LC_MSG_HELLO, on_hello, 0, "the core") | claim(s, LC_MSG_PING, on_ping, 0, "the core") |
              claim(s, LC_MSG_COMMENT, on_comment, 1, "the core") | claim(s, LC_MSG_LIKE, on_like, 1, "the core") |
              claim(s, LC_MSG_REFRESH, on_refresh, 1, "the core");
    for (size_t i = 0; features && features[i]; i++)
        for (const lc_msg_type_t *t = features[i]->messages; t && *t != LC_MSG_NONE; t++)
            bad |= claim(s, *t, features[i]->on_message, 1, features[i]->name);
    if (bad) {
        free(s);
        return NULL;
    }
    return s;
}

void lc_session_destroy(lc_session_t *s) { free(s); }

/* ---- a connection's life ---- */

lc_conn_t *lc_session_open(lc_server_t *srv, void *transport, lc_fmt_t fmt, const char *room, size_t n) {
    lc_room_t *r = lc_room_get(srv->rooms, room, n);
    if (!r) return NULL;
    lc_conn_t *c = lc_conn_new(srv->conns, transport, fmt);
    if (!c) {
        lc_room_unref(r);
        return NULL;
    }
    c->room = r;
    return c;
}

void lc_session_closed(lc_conn_t *c) {
    lc_room_leave(c->room, c);
    lc_room_unref(c->room);
    lc_conn_closed(c);
}

void lc_session_on_frame(lc_conn_t *c, const uint8_t *buf, size_t len, int binary) {
    if (binary != (c->fmt == LC_FMT_MSGPACK)) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "%s frame on a %s connection", binary ? "binary" : "text",
                           c->fmt == LC_FMT_MSGPACK ? "msgpack" : "json");
        return;
    }
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, (lc_fmt_t)c->fmt, LC_DIR_C2S, buf, len, &err) != 0) {
        lc_conn_send_error(c, err.code, "%s", err.message);
        return;
    }
    c->srv->m.msgs_in[m.type]++;
    const handler_t *h = &c->srv->session->by_type[m.type];
    if (!h->fn)
        lc_conn_send_error(c, LC_ERR_UNKNOWN_TYPE, "unknown type: %s", lc_msg_type_name(m.type));
    else if (h->joined && c->state != LC_CONN_JOINED)
        lc_conn_send_error(c, LC_ERR_NOT_READY, "%s before welcome", lc_msg_type_name(m.type));
    else
        h->fn(c, &m);
    lc_msg_clear(&m);
}
