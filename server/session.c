#include "session.h"

#include <string.h>

#include "log.h"
#include "room.h"
#include "sale.h"
#include "store.h"

static int store_ready(lc_conn_t *c) {
    return lc_store_up(c->srv->store) && lc_store_sub_up(c->srv->store);
}

static void on_hello(lc_conn_t *c, const lc_msg_t *m) {
    if (c->state != LC_CONN_NEW) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "hello: already said");
        return;
    }
    if (!store_ready(c)) {
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry hello later");
        return;
    }
    memcpy(c->user, m->user.p, m->user.n);
    c->user[m->user.n] = '\0';
    c->ulen = (uint8_t)m->user.n;
    c->streamer = lc_msg_has(m, role) && lc_str_eq(m->role, "streamer");
    lc_room_join(c->room, c, lc_msg_has(m, since) ? &m->since : NULL);
}

static void on_comment_stored(void *arg, int status, const char *id, size_t n) {
    lc_conn_t *c = arg;
    if (status != 0) {
        c->srv->m.redis_failures++;
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "comment not stored, retry later");
    }
    /* on success the comment comes back through the room's channel */
    lc_conn_unref(c);
}

static void on_comment(lc_conn_t *c, const lc_msg_t *m) {
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    lc_conn_ref(c);
    if (lc_store_comment(c->srv->store, room, rn, c->user, c->ulen, m->text.p, m->text.n,
                         c->srv->cfg.history, on_comment_stored, c) != 0) {
        lc_conn_unref(c);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "comment not stored, retry later");
    }
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
    if (m.type == LC_MSG_PING) {
        lc_msg_t pong;
        lc_msg_init(&pong, LC_MSG_PONG);
        lc_conn_send_msg(c, &pong);
    } else if (m.type == LC_MSG_HELLO) {
        on_hello(c, &m);
    } else if (c->state != LC_CONN_JOINED) {
        lc_conn_send_error(c, LC_ERR_NOT_READY, "%s before welcome", lc_msg_type_name(m.type));
    } else if (m.type == LC_MSG_COMMENT) {
        on_comment(c, &m);
    } else if (m.type == LC_MSG_LIKE) {
        lc_room_add_likes(c->room, m.count);
    } else if (m.type >= LC_MSG_SALE_OPEN && m.type <= LC_MSG_GROUP_JOIN) {
        lc_sale_handle(c, &m);
    } else {
        lc_conn_send_error(c, LC_ERR_UNKNOWN_TYPE, "unknown type: %s", lc_msg_type_name(m.type));
    }
    lc_msg_clear(&m);
}
