/*
 * The coalesced counters and the tick.
 *
 * Likes: `like` frames only add to a per-room integer; once per tick the
 * shard sends one batch, numbered (boot id, seq), that likes.lua applies
 * only if it is newer than the shard's mark -- a batch whose reply was lost
 * and that goes again is not counted twice. Viewers: each shard owns a
 * share that expires unless refreshed (every --share-ttl-ms / 3). A room
 * hears each counter at most once per tick, and only when it changed.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "room_int.h"
#include "store.h"

static void on_likes(void *arg, int status, int64_t total) {
    lc_room_t *r = arg;
    r->likes_busy = 0;
    if (status == LC_STORE_OK) {
        r->likes_inflight = 0;
        free(r->inflight);
        r->inflight = NULL;
        r->ninflight = 0;
        if (total > r->likes_total) r->likes_total = total;
    } else {
        r->srv->m.redis_failures++; /* the same batch goes again: applied once */
    }
    lc_room_unref(r);
}

typedef struct collect {
    lc_store_liker_t *a;
    size_t n, cap;
    int err;
} collect_t;

static void collect_liker(lc_conn_t *c, void *arg) {
    collect_t *k = arg;
    if (!c->likes) return;
    if (lc__room_add_liker(&k->a, &k->n, &k->cap, c) != 0) k->err = 1;
    else c->likes = 0;
}

/* The next batch: the room's pending count, and who sent it -- the
 * connections' own counts and those of connections gone since. Out of
 * memory, the likers are dropped (the total still counts them). */
static void start_batch(lc_room_t *r) {
    collect_t k = {r->left, r->nleft, r->capleft, 0};
    r->left = NULL;
    r->nleft = r->capleft = 0;
    lc_room_foreach_joined(r, collect_liker, &k);
    if (k.err) lc_log("room %.*s: out of memory for the likes board: this batch counts no likers",
                      (int)lc_room_name(r).n, lc_room_name(r).p);
    r->inflight = k.a;
    r->ninflight = k.err ? 0 : k.n;
    r->likes_inflight = r->likes_pending;
    r->likes_pending = 0;
    r->likes_seq++;
}

static void flush_likes(lc_room_t *r) {
    lc_server_t *srv = r->srv;
    if (r->likes_busy || !lc_store_up(srv->store)) return;
    if (!r->likes_inflight) {
        if (!r->likes_pending) return;
        start_batch(r);
    }
    lc_store_likes_req_t req = {.room = lc_room_name(r), .shard = srv->cfg.shard, .boot = srv->boot,
                                .seq = r->likes_seq, .count = r->likes_inflight, .likers = r->inflight,
                                .nlikers = r->ninflight};
    r->refs++;
    if (lc_store_likes(srv->store, &req, on_likes, r) != 0) {
        r->refs--;
        return;
    }
    r->likes_busy = 1;
}

void lc_room_add_likes(lc_room_t *r, lc_conn_t *c, int64_t n) {
    r->likes_pending += n;
    if (c->likes <= UINT32_MAX - n) c->likes += (uint32_t)n; /* (the bucket keeps it far below) */
}

static void on_share(void *arg, int status, int64_t total) {
    lc_room_t *r = arg;
    r->share_busy = 0;
    if (status == LC_STORE_OK) {
        r->share_flushed = r->share_sending;
        r->share_at = uv_now(r->srv->loop);
    } else {
        r->srv->m.redis_failures++;
    }
    lc_room_unref(r);
}

static void flush_share(lc_room_t *r, uint64_t now) {
    lc_server_t *srv = r->srv;
    if (r->share_busy || !lc_store_up(srv->store)) return;
    int64_t want = r->local;
    int refresh = want > 0 && (r->share_at == 0 || now - r->share_at >= srv->cfg.share_ttl_ms / 3);
    if (want == r->share_flushed && !refresh) return;
    lc_store_viewers_req_t req = {.room = lc_room_name(r), .shard = srv->cfg.shard, .count = want,
                                  .ttl_ms = srv->cfg.share_ttl_ms};
    r->refs++;
    r->share_sending = want;
    if (lc_store_viewers(srv->store, &req, on_share, r) != 0) {
        r->refs--;
        return;
    }
    r->share_busy = 1;
}

static void broadcast_counters(lc_room_t *r) {
    lc_msg_t m;
    /* -1: no welcome yet -- a joiner already on the ring would get a total
     * it has not been told is a change (the first welcome sets it) */
    if (r->likes_sent >= 0 && r->likes_total != r->likes_sent) {
        lc__room_counter_msg(&m, 1, r->likes_total);
        lc_room_broadcast(r, &m);
        r->likes_sent = r->likes_total;
    }
    if (r->viewers_total != r->viewers_sent) {
        lc__room_counter_msg(&m, 0, r->viewers_total);
        lc_room_broadcast(r, &m);
        r->viewers_sent = r->viewers_total;
    }
}

int lc__room_flushed(lc_room_t *r) {
    return r->share_flushed == 0 && !r->share_busy && !r->likes_pending && !r->likes_inflight &&
           !r->likes_busy && !lc__room_features_busy(r);
}

/* One room's tick; returns 1 if the room may go (empty, flushed). */
static int room_tick(lc_room_t *r, uint64_t now) {
    lc_server_t *srv = r->srv;
    flush_likes(r);
    flush_share(r, now);
    if (r->need_recover) lc__room_start_recover(r);
    broadcast_counters(r);
    for (size_t i = 0; i < r->rs->nfeatures; i++)
        if (r->rs->features[i]->on_tick) r->rs->features[i]->on_tick(r, now);
    if (r->local || r->joining || !lc_list_empty(&r->waiting)) {
        r->empty_since = 0;
        return 0;
    }
    if (!lc__room_flushed(r)) return 0;
    if (r->sub != SUB_NONE) {
        /* Linger before unsubscribing, so join/leave flapping does not
         * churn Redis. */
        if (!r->empty_since) r->empty_since = now ? now : 1;
        if (now - r->empty_since < srv->cfg.linger_ms && !srv->draining) return 0;
        lc_store_unsubscribe(srv->store, lc_room_name(r));
        r->sub = SUB_NONE;
        r->recovering = r->need_recover = 0;
        /* entries held for a catch-up that will not come: a later subscription
         * starts clean, with no spurious gap */
        for (size_t i = 0; i < r->nheld; i++) lc_frame_unref(r->held[i]);
        r->nheld = 0;
        r->held_overflow = 0;
    }
    return r->refs == 0;
}

void lc_rooms_tick(lc_rooms_t *rs) {
    uint64_t now = uv_now(rs->srv->loop);
    lc_list_foreach_safe(it, &rs->all) {
        lc_room_t *r = LC_CONTAINER_OF(it, lc_room_t, link);
        if (room_tick(r, now)) lc__room_free(r);
    }
}

int lc_rooms_flushed(lc_rooms_t *rs) {
    lc_list_foreach(it, &rs->all)
        if (!lc__room_flushed(LC_CONTAINER_OF(it, lc_room_t, link))) return 0;
    return 1;
}
