/*
 * Moderation. See moderation.h.
 */
#include "moderation.h"

#include <string.h>

#include "room.h"
#include "store.h"

static void on_done(void *arg, int status, const lc_msg_t *r) {
    lc_conn_t *c = arg;
    /* lost: every moderation op is idempotent, sending it again is safe */
    if (!lc_conn_answer_lost(c, status, r, LC_MSG_REPLY, "no answer from storage: it may have happened; send it again") &&
        lc_str_eq(r->status, "not_found"))
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "delete: no such comment");
    lc_conn_unref(c);
}

static void on_message(lc_conn_t *c, const lc_msg_t *m) {
    if (c->role != LC_ROLE_STREAMER && c->role != LC_ROLE_MODERATOR) {
        lc_conn_send_error(c, LC_ERR_FORBIDDEN, "%s: streamers and moderators only", lc_msg_type_name(m->type));
        return;
    }
    lc_store_moderate_req_t req = {.room = lc_room_name(c->room)};
    switch (m->type) {
    case LC_MSG_MUTE: req.op = LC_MOD_MUTE, req.user = m->user, req.secs = m->secs; break;
    case LC_MSG_BAN: req.op = LC_MOD_BAN, req.user = m->user; break;
    case LC_MSG_UNBAN: req.op = LC_MOD_UNBAN, req.user = m->user; break;
    case LC_MSG_DELETE: req.op = LC_MOD_DELETE, req.id = m->id; break;
    case LC_MSG_SLOW_MODE: req.op = LC_MOD_SLOW, req.secs = m->secs; break;
    default: return;
    }
    lc_conn_ref(c);
    if (lc_store_moderate(c->srv->store, &req, on_done, c) != 0) {
        lc_conn_unref(c);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    }
}

static int is_user(const lc_conn_t *c, lc_str_t u) { return c->ulen == u.n && memcmp(c->user, u.p, u.n) == 0; }

static void close_if_user(lc_conn_t *c, void *arg) {
    if (is_user(c, *(const lc_str_t *)arg)) lc_conn_banned(c);
}

static int on_bus(lc_room_t *r, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_BAN:
        lc_room_foreach_joined(r, close_if_user, (void *)&m->user);
        return 1;
    case LC_MSG_DELETED:
    case LC_MSG_SLOW_MODE:
        lc_room_broadcast(r, m);
        return 1;
    default:
        return 0;
    }
}

/* A joiner the join answer names as banned is refused: `banned`, 4003. */
static int admit(lc_room_t *r, const lc_msg_t *st, lc_conn_t *c) {
    for (size_t i = 0; i < st->entries.n; i++) {
        if (is_user(c, st->entries.items[i].user)) {
            lc_conn_banned(c);
            return 0;
        }
    }
    return 1;
}

static const lc_msg_type_t messages[] = {LC_MSG_MUTE, LC_MSG_BAN, LC_MSG_UNBAN, LC_MSG_DELETE, LC_MSG_SLOW_MODE,
                                         LC_MSG_NONE};

const lc_feature_t lc_moderation_feature = {
    .name = "moderation",
    .messages = messages,
    .on_message = on_message,
    .on_bus = on_bus,
    .admit = admit,
};
