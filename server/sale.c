/*
 * Flash sales and group-buys: the room's view, the channel, the tick and
 * the welcome. See sale.h.
 *
 * Stock counts reach every shard through the room's channel, but not one
 * message per buy: a shard that changed a sku's stock (a buy, a cancel, a
 * completed team) marks it dirty, and at its next tick asks commerce.lua
 * ("pub") to publish the current count if it differs from the last one
 * published. A burst of buys costs one channel message per shard per tick,
 * and the last change is always published by the shard that made it, so
 * every shard converges on the same final number.
 */
#include <stdlib.h>
#include <string.h>

#include "sale_req.h"
#include "sale_view.h"
#include "store.h"

/* ---- the channel ---- */

/* A team finished (done or dissolved): tell each member's connections here. */
static void team_result(lc_room_t *r, const lc_msg_t *m) {
    for (size_t i = 0; i < m->entries.n; i++) {
        const lc_msg_t *e = &m->entries.items[i];
        lc_msg_t out;
        lc_msg_init(&out, m->type == LC_MSG_TEAM_DONE ? LC_MSG_GROUP_DONE : LC_MSG_GROUP_FAILED);
        lc_msg_set(&out, team, m->team);
        lc_msg_set(&out, sku, m->sku);
        if (m->type == LC_MSG_TEAM_DONE) {
            if (!lc_msg_has(e, order)) continue;
            lc_msg_set(&out, order, e->order);
        }
        lc_room_send_to_user(r, e->user, &out);
    }
}

static int on_bus(lc_room_t *r, const lc_msg_t *m) {
    sku_t *k;
    switch (m->type) {
    case LC_MSG_SALE:
    case LC_MSG_GROUP_SALE:
        if ((k = lc__sku_find(r, m->sku, 1))) {
            lc__sku_start(k, m, uv_now(lc_room_server(r)->loop));
            k->sold_out_sent = 0; /* a sale just opened: its sell-out is still to be told */
        }
        lc_room_broadcast(r, m);
        return 1;
    case LC_MSG_STOCK:
        if ((k = lc__sku_find(r, m->sku, 1))) {
            k->left = m->left;
            lc__sku_heard_left(k, m->left, uv_now(lc_room_server(r)->loop));
        }
        return 1;
    case LC_MSG_TEAMS:
        if ((k = lc__sku_find(r, m->sku, 1))) {
            k->teams = m->teams;
            k->waiting = m->waiting;
        }
        return 1;
    case LC_MSG_SALE_CLOSED:
        /* kept a while, closed: buys of it are answered here (the tick drops it) */
        if (!(k = lc__sku_find(r, m->sku, 0)) && (k = lc__sku_find(r, m->sku, 1))) {
            k->left_sent = k->left; /* never heard open here: nothing to broadcast of it */
            k->sold_out_sent = 1;
        }
        if (k) {
            k->open = 0;
            k->closed_at = uv_now(lc_room_server(r)->loop);
        }
        lc_room_broadcast(r, m);
        return 1;
    case LC_MSG_TEAM_DONE:
    case LC_MSG_TEAM_FAILED:
        team_result(r, m);
        return 1;
    default:
        return 0;
    }
}

/* ---- the tick ---- */

typedef struct room_arg {
    lc_room_t *room;
    sku_t *sku; /* "pub": stays allocated while pub_busy */
} room_arg_t;

static room_arg_t *room_arg(lc_room_t *r, sku_t *k) {
    room_arg_t *a = malloc(sizeof(*a));
    if (!a) return NULL;
    a->room = r;
    a->sku = k;
    lc_room_ref(r);
    return a;
}

static void room_arg_free(room_arg_t *a) {
    lc_room_unref(a->room);
    free(a);
}

static void on_pub_done(void *arg, int status, const lc_msg_t *reply) {
    room_arg_t *a = arg;
    a->sku->pub_busy = 0;
    if (status != LC_STORE_OK) a->sku->dirty = 1; /* publish again next tick */
    room_arg_free(a);
}

static void on_expire_done(void *arg, int status, const lc_msg_t *reply) {
    room_arg_t *a = arg;
    sales_t *s = lc__sales_of(a->room, 0);
    if (s) s->expire_busy = 0;
    if (s && status == LC_STORE_OK && lc_msg_has(reply, count) && reply->count > 0) {
        /* teams dissolved: the group skus' team counts changed */
        lc_list_foreach(it, &s->skus) {
            sku_t *k = LC_CONTAINER_OF(it, sku_t, link);
            if (k->group) k->dirty = 1;
        }
    }
    room_arg_free(a);
}

static void broadcast_changes(lc_room_t *r, sku_t *k) {
    lc_msg_t m;
    lc_str_t id = lc_str(k->id, k->n);
    if (k->left != k->left_sent) {
        lc_msg_init(&m, LC_MSG_STOCK);
        lc_msg_set(&m, sku, id);
        lc_msg_set(&m, left, k->left);
        lc_room_broadcast(r, &m);
        k->left_sent = k->left;
    }
    if (k->left > 0) {
        k->sold_out_sent = 0;
    } else if (!k->sold_out_sent && k->open) {
        lc_msg_init(&m, LC_MSG_SOLD_OUT);
        lc_msg_set(&m, sku, id);
        lc_room_broadcast(r, &m);
        k->sold_out_sent = 1;
    }
    if (k->group && (k->teams != k->teams_sent || k->waiting != k->waiting_sent)) {
        lc_msg_init(&m, LC_MSG_TEAMS);
        lc_msg_set(&m, sku, id);
        lc_msg_set(&m, teams, k->teams);
        lc_msg_set(&m, waiting, k->waiting);
        lc_room_broadcast(r, &m);
        k->teams_sent = k->teams;
        k->waiting_sent = k->waiting;
    }
}

/* Publishes a dirty sku's count (once in flight at a time). */
static void publish(lc_room_t *r, sku_t *k) {
    lc_server_t *srv = lc_room_server(r);
    room_arg_t *a = room_arg(r, k);
    k->dirty = 0;
    k->pub_busy = 1;
    if (!a || lc_store_sale_publish(srv->store, lc_room_name(r), lc_str(k->id, k->n), on_pub_done, a) != 0) {
        if (a) room_arg_free(a);
        k->dirty = 1;
        k->pub_busy = 0;
    }
}

static void on_tick(lc_room_t *r, uint64_t now) {
    sales_t *s = lc__sales_of(r, 0);
    if (!s) return;
    int groups = 0;
    lc_list_foreach_safe(it, &s->skus) {
        sku_t *k = LC_CONTAINER_OF(it, sku_t, link);
        broadcast_changes(r, k);
        groups |= k->group && k->open;
        if (k->dirty && !k->pub_busy) publish(r, k);
        else if (!k->open && !k->dirty && !k->pub_busy && now - k->closed_at >= LC_SALE_CLOSED_KEEP_MS)
            lc__sku_remove(k);
    }
    /* Teams past their deadline dissolve even if nobody joins any more
     * (joins dissolve them too). Once a second is precise enough. */
    if (groups && !s->expire_busy && now >= s->next_expire) {
        s->next_expire = now + 1000;
        room_arg_t *a = room_arg(r, NULL);
        if (a && lc_store_sale_expire(lc_room_server(r)->store, lc_room_name(r), on_expire_done, a) == 0)
            s->expire_busy = 1;
        else if (a)
            room_arg_free(a);
    }
}

static int busy(lc_room_t *r) {
    sales_t *s = lc__sales_of(r, 0);
    if (!s) return 0;
    lc_list_foreach(it, &s->skus) {
        sku_t *k = LC_CONTAINER_OF(it, sku_t, link);
        if (k->dirty || k->pub_busy) return 1;
    }
    return s->expire_busy;
}

/* ---- welcome ---- */

/* The open sales go into the welcome as join.lua listed them; a sku this
 * shard has not heard of yet, or heard closed (a reopening missed in a
 * subscription gap), starts its view here; a known one hears its stock. */
static int on_welcome(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w) {
    uint64_t now = uv_now(lc_room_server(r)->loop);
    for (size_t i = 0; i < st->sales.n; i++) {
        const lc_msg_t *sa = &st->sales.items[i];
        if (sa->type != LC_MSG_SALE && sa->type != LC_MSG_GROUP_SALE) continue;
        sku_t *k = lc__sku_find(r, sa->sku, 0);
        if (k && k->open)
            lc__sku_heard_left(k, sa->stock, now);
        else if (k || (k = lc__sku_find(r, sa->sku, 1)))
            lc__sku_start(k, sa, now);
    }
    lc_msg_set(w, sales, st->sales);
    return 0;
}

static const lc_msg_type_t messages[] = {LC_MSG_SALE_OPEN, LC_MSG_SALE_CLOSE, LC_MSG_BUY, LC_MSG_CANCEL,
                                         LC_MSG_GROUP_OPEN, LC_MSG_GROUP_JOIN, LC_MSG_NONE};

const lc_feature_t lc_sale_feature = {
    .name = LC_SALE_FEATURE,
    .messages = messages,
    .on_message = lc__sale_on_message,
    .on_bus = on_bus,
    .on_welcome = on_welcome,
    .on_tick = on_tick,
    .busy = busy,
    .on_free = lc__sales_free,
};
