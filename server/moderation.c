#include "moderation.h"

#include <string.h>

#include "jwt.h"
#include "room.h"
#include "store.h"

#define CLOSE_BANNED 4003

void lc_moderation_close_banned(lc_conn_t *c) {
    lc_conn_send_error(c, LC_ERR_BANNED, "banned from this room");
    lc_conn_close(c, CLOSE_BANNED, "banned");
}

static void on_done(void *arg, int status, const lc_store_val_t *v, size_t n) {
    lc_conn_t *c = arg;
    if (status == LC_STORE_REFUSED) {
        c->srv->m.redis_failures++;
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    } else if (status != 0 || n < 1 || !v[0].s) {
        /* every moderation op is idempotent: sending it again is safe */
        c->srv->m.redis_failures++;
        lc_conn_send_error(c, LC_ERR_UNKNOWN, "no answer from storage: it may have happened; send it again");
    } else if (v[0].n == 9 && memcmp(v[0].s, "not_found", 9) == 0) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "delete: no such comment");
    }
    lc_conn_unref(c);
}

void lc_moderation_handle(lc_conn_t *c, const lc_msg_t *m) {
    if (c->role != LC_ROLE_STREAMER && c->role != LC_ROLE_MODERATOR) {
        lc_conn_send_error(c, LC_ERR_FORBIDDEN, "%s: streamers and moderators only", lc_msg_type_name(m->type));
        return;
    }
    const char *op;
    lc_store_val_t a[2];
    size_t n = 1;
    switch (m->type) {
    case LC_MSG_MUTE:
        op = "mute";
        a[0] = (lc_store_val_t){m->user.p, m->user.n, 0};
        a[1] = (lc_store_val_t){NULL, 0, m->secs};
        n = 2;
        break;
    case LC_MSG_BAN: op = "ban"; a[0] = (lc_store_val_t){m->user.p, m->user.n, 0}; break;
    case LC_MSG_UNBAN: op = "unban"; a[0] = (lc_store_val_t){m->user.p, m->user.n, 0}; break;
    case LC_MSG_DELETE: op = "delete"; a[0] = (lc_store_val_t){m->id.p, m->id.n, 0}; break;
    case LC_MSG_SLOW_MODE: op = "slow"; a[0] = (lc_store_val_t){NULL, 0, m->secs}; break;
    default: return;
    }
    size_t rn;
    const char *room = lc_room_name(c->room, &rn);
    lc_conn_ref(c);
    if (lc_store_moderate(c->srv->store, room, rn, op, a, n, on_done, c) != 0) {
        lc_conn_unref(c);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    }
}

static void close_if_user(lc_conn_t *c, void *arg) {
    const lc_str_t *u = arg;
    if (c->ulen == u->n && memcmp(c->user, u->p, u->n) == 0) lc_moderation_close_banned(c);
}

int lc_moderation_on_bus(lc_room_t *r, const lc_msg_t *m) {
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
