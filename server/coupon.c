/*
 * Coupon drops: the room's view of its coupons, the channel, the tick and
 * the welcome. See coupon.h.
 *
 * Counts travel like stock: a shard whose claim changed a coupon marks it
 * dirty and at its next tick asks coupon.lua ("pub") to publish the counts
 * if they changed since the last publish; redeems and returns publish from
 * their own scripts (there are at most quota of them). Every shard forwards
 * the newest counts it heard at most once per tick.
 */
#include <stdlib.h>
#include <string.h>

#include "coupon.h"
#include "coupon_req.h"
#include "coupon_view.h"
#include "store.h"

/* ---- the channel ---- */

static void send_counts(lc_room_t *r, cpn_t *k) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_COUPON_LEFT);
    lc_msg_set(&m, coupon, lc_str(k->id, k->n));
    lc_msg_set(&m, left, k->left);
    lc_msg_set(&m, used, k->used);
    lc_room_broadcast(r, &m);
    k->left_sent = k->left;
    k->used_sent = k->used;
}

static int on_bus(lc_room_t *r, const lc_msg_t *m) {
    cpn_t *k;
    switch (m->type) {
    case LC_MSG_COUPON:
        lc__coupon_start(r, m);
        lc_room_broadcast(r, m);
        return 1;
    case LC_MSG_COUPON_LEFT:
        if ((k = lc__coupon_find(r, m->coupon, 1))) {
            k->left = m->left;
            if (lc_msg_has(m, used)) k->used = m->used;
            k->known = 1;
        }
        return 1;
    case LC_MSG_COUPON_GONE:
        k = lc__coupon_find(r, m->coupon, 1);
        if (k && k->gone) return 1; /* told already (see on_closed): once */
        if (k && k->known && k->left != k->left_sent) send_counts(r, k); /* the last count first */
        if (k) k->gone = 1;
        lc_room_broadcast(r, m);
        return 1;
    default:
        return 0;
    }
}

/* ---- the tick ---- */

typedef struct pub_arg {
    lc_room_t *room;
    cpn_t *k; /* stays allocated while pub_busy */
} pub_arg_t;

static void on_pub_done(void *arg, int status, const lc_msg_t *reply) {
    pub_arg_t *a = arg;
    (void)reply;
    a->k->pub_busy = 0;
    if (status != LC_STORE_OK) a->k->dirty = 1; /* again next tick */
    lc_room_unref(a->room);
    free(a);
}

static void publish(lc_room_t *r, cpn_t *k) {
    lc_server_t *srv = lc_room_server(r);
    pub_arg_t *a = malloc(sizeof(*a));
    if (!a) return; /* still dirty: next tick */
    a->room = r;
    a->k = k;
    lc_room_ref(r);
    k->dirty = 0;
    k->pub_busy = 1;
    if (lc_store_coupon_publish(srv->store, lc_room_name(r), lc_str(k->id, k->n), on_pub_done, a) != 0) {
        k->dirty = 1;
        k->pub_busy = 0;
        lc_room_unref(r);
        free(a);
    }
}

/* Redis closed every window over at ts: a view that still thinks one open
 * missed its coupon_gone (a subscription gap: coupon messages are not in the
 * stream) -- tell this shard's viewers now; the bus copy, if it comes, is
 * then not told twice. */
static void on_closed(void *arg, int status, const lc_msg_t *reply) {
    coupons_t *s = arg;
    lc_room_t *r = s->room;
    s->close_busy = 0;
    if (status == LC_STORE_OK && lc_msg_has(reply, ts)) {
        s->skew = reply->ts - (int64_t)uv_now(lc_room_server(r)->loop);
        lc_list_foreach(it, &s->list) {
            cpn_t *k = LC_CONTAINER_OF(it, cpn_t, link);
            if (k->gone || k->ends == 0 || k->ends > reply->ts) continue;
            lc_msg_t m;
            lc_msg_init(&m, LC_MSG_COUPON_GONE);
            lc_msg_set(&m, coupon, lc_str(k->id, k->n));
            k->gone = 1;
            lc_room_broadcast(r, &m);
        }
    }
    lc_room_unref(r);
}

/* A window this shard sees over: ask Redis to end it (at most twice a second). */
static void close_windows(lc_room_t *r, coupons_t *s, uint64_t now) {
    if (s->close_busy || now < s->close_at) return;
    s->close_at = now + 500;
    lc_room_ref(r);
    s->close_busy = 1;
    if (lc_store_coupon_close(lc_room_server(r)->store, lc_room_name(r), on_closed, s) != 0) {
        s->close_busy = 0;
        lc_room_unref(r);
    }
}

static void on_tick(lc_room_t *r, uint64_t now) {
    coupons_t *s = lc__coupons_of(r, 0);
    if (!s) return;
    int over = 0;
    lc_list_foreach_safe(it, &s->list) {
        cpn_t *k = LC_CONTAINER_OF(it, cpn_t, link);
        if (k->known && (k->left != k->left_sent || k->used != k->used_sent)) send_counts(r, k);
        if (k->dirty && !k->pub_busy) publish(r, k);
        over |= !k->gone && k->ends > 0 && (int64_t)now + s->skew >= k->ends;
        /* a gone coupon's view stays (its used count still moves; freed with
         * the room): the room holds at most LC_STORE_MAX_LIVE_COUPONS live */
    }
    if (over) close_windows(r, s, now);
}

static int busy(lc_room_t *r) {
    coupons_t *s = lc__coupons_of(r, 0);
    if (!s) return 0;
    lc_list_foreach(it, &s->list) {
        cpn_t *k = LC_CONTAINER_OF(it, cpn_t, link);
        if (k->dirty || k->pub_busy) return 1;
    }
    return s->close_busy;
}

static void on_free(lc_room_t *r, void *slot) {
    (void)r;
    coupons_t *s = slot;
    lc_list_foreach_safe(it, &s->list) lc__coupon_drop(LC_CONTAINER_OF(it, cpn_t, link));
    free(s);
}

/* ---- welcome ---- */

/* The claimable coupons go into the welcome as join.lua listed them; one this
 * shard has not heard of yet starts its view here. */
static int on_welcome(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w) {
    coupons_t *s = st->coupons.n ? lc__coupons_of(r, 1) : NULL;
    if (s && lc_msg_has(st, ts)) s->skew = st->ts - (int64_t)uv_now(lc_room_server(r)->loop);
    for (size_t i = 0; i < st->coupons.n; i++) {
        const lc_msg_t *c = &st->coupons.items[i];
        cpn_t *k = c->type == LC_MSG_COUPON ? lc__coupon_find(r, c->coupon, 0) : NULL;
        /* one this shard has not heard of, or only by a count, or heard gone and dropped again
         * since (another window: maybe in a subscription gap): what Redis says now. (The same
         * window heard gone stays gone: this answer may be older than its coupon_gone.) */
        if (c->type == LC_MSG_COUPON && (!k || k->ends == 0 || (k->gone && lc_msg_has(c, ends) && c->ends != k->ends)))
            lc__coupon_start(r, c);
    }
    if (st->coupons.n) lc_msg_set(w, coupons, st->coupons);
    return 0;
}

static const lc_msg_type_t messages[] = {LC_MSG_COUPON_DROP, LC_MSG_COUPON_CLAIM, LC_MSG_COUPONS, LC_MSG_NONE};

const lc_feature_t lc_coupon_feature = {
    .name = LC_COUPON_FEATURE,
    .messages = messages,
    .on_message = lc__coupon_on_message,
    .on_bus = on_bus,
    .on_welcome = on_welcome,
    .on_tick = on_tick,
    .busy = busy,
    .on_free = on_free,
};
