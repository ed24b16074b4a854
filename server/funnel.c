/*
 * The funnel's reader: streamers' `stats` and the reported rooms' gauges.
 * See funnel.h.
 */
#include "funnel.h"

#include <stdlib.h>

#include "frame.h"
#include "room.h"
#include "store.h"

#define FEATURE "funnel"

typedef struct funnel {
    lc_room_t *room;
    uint8_t busy, reported;
    uint32_t joins;     /* lc_room_streamer_joins at the last call: a newer streamer asks at once */
    uint64_t next_ms;   /* the loop's clock */
    int64_t fig[LC_FUNNEL__COUNT]; /* what the room adds to the gauges while reported */
} funnel_t;

static funnel_t *of(lc_room_t *r, int create) {
    funnel_t **f = (funnel_t **)lc_room_slot(r, FEATURE);
    if (!f) return NULL;
    if (!*f && create && (*f = calloc(1, sizeof(funnel_t)))) (*f)->room = r;
    return *f;
}

/* The room's part of the shard's gauges: out (sign -1), or in (+1). */
static void count(funnel_t *f, int sign) {
    int64_t *g = lc_room_server(f->room)->m.funnel;
    for (int i = 0; i < LC_FUNNEL__COUNT; i++) g[i] += sign * f->fig[i];
}

static void unreport(funnel_t *f) {
    if (f->reported) count(f, -1);
    f->reported = 0;
}

static void report(funnel_t *f, const lc_msg_t *st) {
    unreport(f);
    const int64_t fig[LC_FUNNEL__COUNT] = {
        [LC_FUNNEL_ROOMS] = 1,           [LC_FUNNEL_VIEWERS] = st->viewers_now,
        [LC_FUNNEL_PEAK] = st->viewers_peak, [LC_FUNNEL_UNIQUE] = st->viewers_unique,
        [LC_FUNNEL_ENGAGED] = st->engaged, [LC_FUNNEL_BUYERS] = st->buyers,
        [LC_FUNNEL_ORDERS] = st->orders, [LC_FUNNEL_UNITS] = st->units,
        [LC_FUNNEL_REVENUE] = st->revenue,
    };
    for (int i = 0; i < LC_FUNNEL__COUNT; i++) f->fig[i] = fig[i];
    f->reported = 1;
    count(f, 1);
}

static void to_streamer(lc_conn_t *c, void *arg) {
    if (c->role == LC_ROLE_STREAMER) lc_conn_send(c, arg);
}

/* The figures as the streamers see them: one frame for all of them. */
static void tell_streamers(lc_room_t *r, const lc_msg_t *st) {
    lc_msg_t m = *st;
    lc_msg_unset(&m, shard); /* (bus only: who reports) */
    lc_frame_t *fr = lc_frame_from_msg(&m, &lc_room_server(r)->scratch);
    if (!fr) return; /* out of memory: the next period sends them */
    lc_room_foreach_joined(r, to_streamer, fr);
    lc_frame_unref(fr);
}

static void on_stats(void *arg, int status, const lc_msg_t *st) {
    funnel_t *f = arg;
    lc_room_t *r = f->room;
    lc_server_t *srv = lc_room_server(r);
    f->busy = 0;
    if (status != LC_STORE_OK) {
        /* not known whether the lease is still ours: out of the gauges (a
         * holder's figures come back with its next answer) */
        unreport(f);
    } else {
        if (lc_msg_has(st, shard) && lc_str_eq(st->shard, srv->cfg.shard))
            report(f, st);
        else
            unreport(f);
        if (lc_msg_has(st, series) && lc_room_streamers(r) > 0) tell_streamers(r, st);
    }
    lc_room_unref(r);
}

static void on_tick(lc_room_t *r, uint64_t now) {
    uint32_t joined = lc_room_joined(r), streamers = lc_room_streamers(r);
    funnel_t *f = of(r, joined > 0);
    if (!f || f->busy) return;
    if (joined == 0) { /* nobody here: another shard with viewers takes the lease */
        unreport(f);
        return;
    }
    uint32_t joins = lc_room_streamer_joins(r);
    if (now < f->next_ms && joins == f->joins) return;
    f->joins = joins;
    f->next_ms = now + LC_FUNNEL_PERIOD_MS;
    lc_server_t *srv = lc_room_server(r);
    lc_store_funnel_req_t req = {.room = lc_room_name(r), .shard = srv->cfg.shard,
                                 .lease_ms = LC_FUNNEL_LEASE_MS, .series = streamers > 0};
    lc_room_ref(r);
    f->busy = 1;
    if (lc_store_funnel(srv->store, &req, on_stats, f) != 0) {
        f->busy = 0;
        unreport(f);
        lc_room_unref(r);
    }
}

static int busy(lc_room_t *r) {
    funnel_t *f = of(r, 0);
    return f && f->busy;
}

static void on_free(lc_room_t *r, void *slot) {
    (void)r;
    unreport(slot);
    free(slot);
}

static const lc_msg_type_t messages[] = {LC_MSG_NONE};

const lc_feature_t lc_funnel_feature = {
    .name = FEATURE,
    .messages = messages,
    .on_tick = on_tick,
    .busy = busy,
    .on_free = on_free,
};
