/*
 * Reservations: the room's deadline sweep and the buyers' paid / expired
 * news. See checkout.h.
 */
#include "checkout.h"

#include <stdlib.h>

#include "room.h"
#include "store.h"

#define FEATURE "checkout"

typedef struct deadlines {
    int64_t due;       /* the room's earliest deadline (Redis ms), 0: none known */
    int64_t heard;     /* the earliest one heard of while a sweep was in flight */
    int64_t skew;      /* Redis's clock minus the loop's (uv_now), from the last answer that said */
    uint64_t next_ms;  /* our clock: sweep at the latest then, while due != 0 */
    uint64_t retry_ms; /* our clock: after a failed sweep, not before then */
    unsigned fails;    /* failed sweeps in a row (the back-off) */
    lc_room_t *room;
    uint8_t busy;      /* a sweep in flight */
} deadlines_t;

static deadlines_t *of(lc_room_t *r, int create) {
    deadlines_t **d = (deadlines_t **)lc_room_slot(r, FEATURE);
    if (!d) return NULL;
    if (!*d && create && (*d = calloc(1, sizeof(deadlines_t)))) {
        (*d)->room = r;
        (*d)->skew = lc_wall_ms() - (int64_t)uv_now(lc_room_server(r)->loop); /* until Redis says */
    }
    return *d;
}

static int64_t earliest(int64_t a, int64_t b) { return a == 0 ? b : b == 0 ? a : a < b ? a : b; }

/* A deadline heard of: the earliest one wins. */
static void note_due(lc_room_t *r, int64_t due) {
    deadlines_t *d;
    if (due <= 0 || !(d = of(r, 1))) return;
    d->due = earliest(d->due, due);
    if (d->busy) d->heard = earliest(d->heard, due);
}

static void note_clock(deadlines_t *d, int64_t redis_ms) {
    uint64_t now = uv_now(lc_room_server(d->room)->loop);
    if (redis_ms > 0) d->skew = redis_ms - (int64_t)now;
}

static int on_bus(lc_room_t *r, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_STOCK:
        if (lc_msg_has(m, due)) note_due(r, m->due);
        return 0; /* the sale feature keeps the count */
    case LC_MSG_PAID:
    case LC_MSG_EXPIRED: {
        lc_msg_t out; /* the buyer's news, without the bus's user */
        lc_msg_init(&out, m->type);
        lc_msg_set(&out, order, m->order);
        if (lc_msg_has(m, sku)) lc_msg_set(&out, sku, m->sku);
        if (lc_msg_has(m, qty)) lc_msg_set(&out, qty, m->qty);
        lc_room_send_to_user(r, m->user, &out);
        return 1;
    }
    default:
        return 0;
    }
}

static int on_welcome(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w) {
    (void)w;
    if (lc_msg_has(st, due) && st->due > 0) {
        note_due(r, st->due);
        deadlines_t *d = of(r, 0);
        if (d && lc_msg_has(st, ts)) note_clock(d, st->ts);
    }
    return 0;
}

static void on_swept(void *arg, int status, const lc_msg_t *reply) {
    deadlines_t *d = arg;
    lc_room_t *r = d->room;
    d->busy = 0;
    if (status == LC_STORE_OK && reply->type == LC_MSG_REPLY) {
        lc_server_t *srv = lc_room_server(r);
        if (lc_msg_has(reply, count)) srv->m.reservations[LC_RES_EXPIRED] += (uint64_t)reply->count;
        if (lc_msg_has(reply, ts)) note_clock(d, reply->ts);
        /* what Redis said replaces what we knew, but for deadlines heard of
         * while the sweep was on its way (they may be newer than its answer) */
        d->due = earliest(lc_msg_has(reply, due) ? reply->due : 0, d->heard);
        d->next_ms = uv_now(srv->loop) + LC_CHECKOUT_SWEEP_MS;
        d->fails = 0;
    } else { /* tried again later (a sweep is idempotent): 200 ms, doubling, at most 10 s */
        uint64_t wait = 200u << (d->fails < 6 ? d->fails : 6);
        d->retry_ms = uv_now(lc_room_server(r)->loop) + (wait < LC_CHECKOUT_SWEEP_MS ? wait : LC_CHECKOUT_SWEEP_MS);
        d->fails++;
    }
    lc_room_unref(r);
}

static void on_tick(lc_room_t *r, uint64_t now) {
    deadlines_t *d = of(r, 0);
    if (!d || d->busy || d->due == 0 || now < d->retry_ms) return;
    /* Redis's clock: a deadline has passed when Redis says so */
    if ((int64_t)now + d->skew < d->due && now < d->next_ms) return;
    lc_server_t *srv = lc_room_server(r);
    lc_room_ref(r);
    d->busy = 1;
    d->heard = 0;
    if (lc_store_order_sweep(srv->store, lc_room_name(r), srv->cfg.shard, LC_CHECKOUT_SWEEP_MAX, on_swept, d) != 0) {
        d->busy = 0;
        lc_room_unref(r);
    }
}

static int busy(lc_room_t *r) {
    deadlines_t *d = of(r, 0);
    return d && d->busy;
}

static const lc_msg_type_t messages[] = {LC_MSG_NONE};

const lc_feature_t lc_checkout_feature = {
    .name = FEATURE,
    .messages = messages,
    .on_bus = on_bus,
    .on_welcome = on_welcome,
    .on_tick = on_tick,
    .busy = busy,
    .on_free = lc_feature_free_slot,
};
