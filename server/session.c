#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "filter.h"
#include "jwt.h"
#include "log.h"
#include "moderation.h"
#include "room.h"
#include "sale.h"
#include "store.h"

static int store_ready(lc_conn_t *c) {
    return lc_store_up(c->srv->store) && lc_store_sub_up(c->srv->store);
}

void lc_session_limited(lc_conn_t *c) {
    if (++c->limited >= c->srv->cfg.abuse_close) lc_conn_close(c, 1008, "rate limit exceeded");
}

/* Over a bucket: say so (the error frame is counted), and close a client
 * that keeps going. */
static void rate_limited(lc_conn_t *c, const char *what) {
    lc_conn_send_error(c, LC_ERR_RATE_LIMITED, "%s: slow down", what);
    lc_session_limited(c);
}

static int exempt(const lc_conn_t *c) { return c->role == LC_ROLE_STREAMER; }

static void on_hello(lc_conn_t *c, const lc_msg_t *m) {
    if (c->state != LC_CONN_NEW) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "hello: already said");
        return;
    }
    if (lc_auth_hello(c, m) != 0) return;
    if (!store_ready(c)) {
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry hello later");
        return;
    }
    lc_room_join(c->room, c, lc_msg_has(m, since) ? &m->since : NULL);
}

/* A comment in flight. Refusals must be counted "in a row" in the order
 * the client sent its frames, but a comment's verdict (slow mode) comes
 * from Redis later, after frames sent behind it may already have been
 * refused by the bucket. So accepting a frame resets the run tentatively and
 * remembers what it interrupted; a slow-mode refusal gives it back, plus
 * itself. */
typedef struct comment_op {
    lc_conn_t *c;
    uint16_t run_before;
} comment_op_t;

static void on_comment_stored(void *arg, int status, const lc_store_val_t *v, size_t n) {
    comment_op_t *op = arg;
    lc_conn_t *c = op->c;
    uint16_t run_before = op->run_before;
    free(op);
    if (status == LC_STORE_REFUSED) {
        c->srv->m.redis_failures++;
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "comment not stored, retry later");
    } else if (status != 0 || n < 1 || !v[0].s) {
        /* it may be posted: with its req, the same comment again is posted once */
        c->srv->m.redis_failures++;
        lc_conn_send_error(c, LC_ERR_UNKNOWN, "no answer from storage: the comment may be posted; "
                           "send it again with the same req");
    } else if (lc_str_eq(lc_str(v[0].s, v[0].n), "banned")) {
        lc_moderation_close_banned(c);
    } else if (lc_str_eq(lc_str(v[0].s, v[0].n), "muted")) {
        lc_conn_send_error(c, LC_ERR_MUTED, "muted in this room");
    } else if (lc_str_eq(lc_str(v[0].s, v[0].n), "rate_limited")) {
        lc_conn_send_error(c, LC_ERR_RATE_LIMITED, "slow mode: wait before commenting again");
        c->limited = (uint16_t)(c->limited + run_before); /* the run this frame seemed to end goes on */
        lc_session_limited(c);                            /* ... and this frame is in it */
    }
    /* on ok the comment comes back through the room's channel; on dup it
     * already did (or is in the history of the client's resume) */
    lc_conn_unref(c);
}

static void on_comment(lc_conn_t *c, const lc_msg_t *m) {
    lc_server_t *srv = c->srv;
    if (!exempt(c) && !lc_bucket_take(&c->b_comment, srv->cfg.comment_rate, srv->cfg.comment_burst,
                                      uv_now(srv->loop))) {
        rate_limited(c, "comments");
        return;
    }
    if (lc_filter_match(srv, m->text.p, m->text.n)) {
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
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    int has_req = lc_msg_has(m, req);
    lc_store_comment_t sc = {c->user, m->text.p, has_req ? m->req.p : "", c->ulen, m->text.n,
                             has_req ? m->req.n : 0, srv->cfg.history, srv->cfg.req_ttl_s,
                             c->role != LC_ROLE_VIEWER};
    if (lc_store_comment(srv->store, room, rn, &sc, on_comment_stored, op) != 0) {
        c->limited = op->run_before;
        lc_conn_unref(c);
        free(op);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "comment not stored, retry later");
    }
}

static void on_like(lc_conn_t *c, const lc_msg_t *m) {
    lc_server_t *srv = c->srv;
    if (!exempt(c) && !lc_bucket_take(&c->b_like, srv->cfg.like_rate, srv->cfg.like_burst,
                                      uv_now(srv->loop))) {
        rate_limited(c, "likes");
        return;
    }
    c->limited = 0;
    lc_room_add_likes(c->room, m->count);
}

void lc_session_on_frame(lc_conn_t *c, const uint8_t *buf, size_t len, int binary) {
    if (binary != (c->fmt == LC_FMT_MSGPACK)) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "%s frame on a %s connection",
                           binary ? "binary" : "text", c->fmt == LC_FMT_MSGPACK ? "msgpack" : "json");
        return;
    }
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, (lc_fmt_t)c->fmt, LC_DIR_C2S, buf, len, &err) != 0) {
        lc_conn_send_error(c, err.code, "%s", err.message);
        return;
    }
    c->srv->m.msgs_in[m.type]++;
    switch (m.type) {
    case LC_MSG_PING: {
        lc_msg_t pong;
        lc_msg_init(&pong, LC_MSG_PONG);
        lc_conn_send_msg(c, &pong);
        break;
    }
    case LC_MSG_HELLO:
        on_hello(c, &m);
        break;
    default:
        if (c->state != LC_CONN_JOINED) {
            lc_conn_send_error(c, LC_ERR_NOT_READY, "%s before welcome", lc_msg_type_name(m.type));
        } else if (m.type == LC_MSG_COMMENT) {
            on_comment(c, &m);
        } else if (m.type == LC_MSG_LIKE) {
            on_like(c, &m);
        } else if (m.type == LC_MSG_REFRESH) {
            lc_auth_refresh(c, &m);
        } else if (m.type >= LC_MSG_SALE_OPEN && m.type <= LC_MSG_GROUP_JOIN) {
            lc_sale_handle(c, &m);
        } else if (m.type >= LC_MSG_MUTE && m.type <= LC_MSG_SLOW_MODE) {
            lc_moderation_handle(c, &m);
        } else {
            lc_conn_send_error(c, LC_ERR_UNKNOWN_TYPE, "unknown type: %s", lc_msg_type_name(m.type));
        }
        break;
    }
    lc_msg_clear(&m);
}
