/*
 * Joining a room without holes or duplicates, and catching up after the
 * subscription came back.
 *
 * Joining: the room subscribes before it asks Redis for history, and a
 * joiner registers as a ring reader at the ring's head *before* the join
 * request is sent. Every entry published after Redis ran the request
 * therefore lands in the ring at or after the joiner's position; those the
 * history already holds are skipped by the per-connection "newest
 * delivered id" check on the write path (room_fill).
 *
 * Joins without `since` are batched per room: while one request is in
 * flight, new joiners wait and are all served by the next one, with one
 * encoded welcome. A join storm costs Redis one history read per round trip
 * and room, not one per viewer.
 *
 * Catching up: when the subscriber connection comes back, each room asks
 * for the stream entries after the newest one it pushed, holding live
 * messages until the answer is in, then pushes both in id order.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "room_int.h"
#include "store.h"

typedef struct join_op {
    lc_room_t *room;
    int resume, recover;
    lc_sid_t since;
    size_t n;
    lc_conn_t *conns[];
} join_op_t;

static void start_joins(lc_room_t *r);

void lc__room_fail_conn(lc_room_t *r, lc_conn_t *c) {
    if (c->state == LC_CONN_JOINING) {
        lc_ring_reader_remove(r->ring, c->tail);
        r->joining--;
    } else if (c->state == LC_CONN_WAITING) {
        lc_list_remove(&c->rlink);
    }
    c->state = LC_CONN_NEW;
    lc_conn_hello_failed(c);
    lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry hello later");
}

static void op_free(join_op_t *op) {
    for (size_t i = 0; i < op->n; i++) lc_conn_unref(op->conns[i]);
    lc_room_unref(op->room);
    free(op);
}

/* The newest stream id the history of st holds, or `floor` if newer. */
static lc_sid_t history_end(const lc_msg_t *st, lc_sid_t floor) {
    for (size_t i = 0; i < st->history.n; i++) {
        lc_sid_t id;
        const lc_msg_t *e = &st->history.items[i];
        if (lc_sid_parse(&id, e->id.p, e->id.n) == 0 && lc_sid_cmp(id, floor) > 0) floor = id;
    }
    return floor;
}

/* Asks every feature whether each joiner may come in; the refused ones
 * (answered and closed by the feature) leave the join. Returns how many
 * are still joining. */
static size_t admit(join_op_t *op, const lc_msg_t *st) {
    lc_room_t *r = op->room;
    size_t alive = 0;
    for (size_t i = 0; i < op->n; i++) {
        lc_conn_t *c = op->conns[i];
        if (c->state != LC_CONN_JOINING) continue;
        int ok = 1;
        for (size_t k = 0; ok && k < r->rs->nfeatures; k++)
            if (r->rs->features[k]->admit) ok = r->rs->features[k]->admit(r, st, c);
        if (!ok) {
            lc_ring_reader_remove(r->ring, c->tail);
            r->joining--;
            c->state = LC_CONN_NEW;
            continue;
        }
        alive++;
    }
    return alive;
}

/* Every feature hears a join answer (st) and adds its part to w. 0, or -1
 * out of memory. */
static int features_hear(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w) {
    for (size_t k = 0; k < r->rs->nfeatures; k++)
        if (r->rs->features[k]->on_welcome && r->rs->features[k]->on_welcome(r, st, w) != 0) return -1;
    return 0;
}

/* The welcome for this batch, encoded once (NULL out of memory). */
static lc_frame_t *welcome_frame(join_op_t *op, const lc_msg_t *st, size_t alive) {
    lc_room_t *r = op->room;
    lc_msg_t w;
    lc_msg_init(&w, LC_MSG_WELCOME);
    lc_msg_set(&w, room, lc_str(r->name, r->nlen));
    lc_msg_set(&w, shard, lc_cstr(r->srv->cfg.shard));
    lc_msg_set(&w, viewers, st->viewers + (int64_t)(r->local + alive));
    lc_msg_set(&w, likes, r->likes_total);
    lc_msg_set(&w, last, st->last);
    lc_msg_set(&w, history, st->history);
    if (op->resume) lc_msg_set(&w, recovered, lc_msg_has(st, recovered) && st->recovered);
    if (features_hear(r, st, &w) != 0) return NULL;
    return lc_frame_from_msg(&w, &r->srv->scratch);
}

static void welcome(join_op_t *op, const lc_msg_t *st) {
    lc_room_t *r = op->room;
    lc_sid_t h = history_end(st, op->resume ? op->since : (lc_sid_t){0, 0});
    if (!r->have_floor || lc_sid_cmp(h, r->floor) < 0) r->floor = h;
    r->have_floor = 1;
    size_t alive = admit(op, st);
    if (r->local == 0) r->likes_sent = st->likes; /* no one to tell: the welcome says it */
    if (st->likes > r->likes_total) r->likes_total = st->likes;
    if (r->likes_sent < 0) r->likes_sent = r->likes_total; /* the room's first welcome says it */
    if (!r->viewers_heard) r->viewers_total = st->viewers + r->local + (int64_t)alive;
    lc_frame_t *f = alive ? welcome_frame(op, st, alive) : NULL;
    /* The welcome's viewer count is this shard's estimate (Redis's total
     * plus the joiners); the room's broadcast value may differ, and if the
     * joiners leave again before the next share update, Redis's total never
     * changes and nothing would correct the estimate. So the next tick
     * broadcasts the room's value to everyone, welcomed ones included. */
    if (f && st->viewers + (int64_t)(r->local + alive) != r->viewers_total) r->viewers_sent = -1;
    for (size_t i = 0; i < op->n; i++) {
        lc_conn_t *c = op->conns[i];
        if (c->state != LC_CONN_JOINING) continue;
        if (!f) {
            lc__room_fail_conn(r, c);
            continue;
        }
        r->joining--;
        lc_conn_send(c, f);
        c->last = h; /* ring entries up to h are in the history: skip them */
        c->state = LC_CONN_JOINED;
        c->idle = 0;
        lc__room_list_move(&r->busy, c);
        r->local++;
        if (c->role == LC_ROLE_STREAMER) r->streamers++, r->streamer_joins++;
        lc_conn_wake(c);
    }
    if (f) lc_frame_unref(f);
}

static void finish_recover(lc_room_t *r, int status, const lc_msg_t *st, lc_sid_t since);

static void on_join(void *arg, int status, const lc_msg_t *st) {
    join_op_t *op = arg;
    lc_room_t *r = op->room;
    if (op->recover) {
        finish_recover(r, status, st, op->since);
    } else if (status != LC_STORE_OK) {
        r->srv->m.redis_failures++;
        for (size_t i = 0; i < op->n; i++)
            if (op->conns[i]->state == LC_CONN_JOINING) lc__room_fail_conn(r, op->conns[i]);
    } else {
        welcome(op, st);
    }
    if (!op->resume && !op->recover) r->batch_busy = 0;
    op_free(op);
    start_joins(r);
}

/* Sends one join request for conns (a batch, or one resuming connection),
 * or a catch-up (n == 0, recover). */
static int send_request(lc_room_t *r, join_op_t *op, const lc_sid_t *since, unsigned count) {
    lc_server_t *srv = r->srv;
    char sbuf[42];
    lc_str_t *users = calloc(op->n ? op->n : 1, sizeof(*users));
    if (!users) return -1;
    for (size_t i = 0; i < op->n; i++) users[i] = lc_str(op->conns[i]->user, op->conns[i]->ulen);
    lc_store_join_req_t req = {
        .room = lc_room_name(r), .shard = srv->cfg.shard, .count = count,
        .since = since ? lc_str(sbuf, lc_sid_format(*since, sbuf)) : lc_str("", 0),
        .cap = srv->cfg.history, .users = users, .nusers = op->n,
    };
    int rc = lc_store_join(srv->store, &req, on_join, op);
    free(users);
    return rc;
}

static void send_join(lc_room_t *r, lc_conn_t **conns, size_t n, const lc_sid_t *since) {
    join_op_t *op = calloc(1, sizeof(*op) + n * sizeof(lc_conn_t *));
    if (!op) {
        for (size_t i = 0; i < n; i++) lc__room_fail_conn(r, conns[i]);
        return;
    }
    op->room = r;
    r->refs++;
    op->resume = since != NULL;
    if (since) op->since = *since;
    uint64_t head = lc_ring_head(r->ring);
    for (size_t i = 0; i < n; i++) {
        lc_conn_t *c = conns[i];
        op->conns[op->n++] = lc_conn_ref(c);
        c->state = LC_CONN_JOINING;
        c->tail = head;
        lc_ring_reader_add(r->ring, head);
        r->joining++;
    }
    if (send_request(r, op, since, r->srv->cfg.welcome_history) != 0) {
        for (size_t i = 0; i < op->n; i++) lc__room_fail_conn(r, op->conns[i]);
        op_free(op);
        return;
    }
    if (!since) r->batch_busy = 1;
}

/* Sends the joins that can go now: every resuming connection alone (each
 * has its own `since`), the others in one batch. */
static void start_joins(lc_room_t *r) {
    if (r->sub != SUB_LIVE || !lc_store_up(r->srv->store) || lc_list_empty(&r->waiting)) return;
    enum { MAX_BATCH = 4096 };
    lc_conn_t *batch[MAX_BATCH];
    size_t n = 0;
    lc_list_foreach_safe(it, &r->waiting) {
        lc_conn_t *c = LC_CONTAINER_OF(it, lc_conn_t, rlink);
        if (c->resume) {
            lc_list_remove(&c->rlink);
            c->resume = 0;
            send_join(r, &c, 1, &c->last);
        } else if (!r->batch_busy && n < MAX_BATCH) {
            lc_list_remove(&c->rlink);
            batch[n++] = c;
        }
    }
    if (n) send_join(r, batch, n, NULL);
}

void lc_room_join(lc_room_t *r, lc_conn_t *c, const lc_str_t *since) {
    if (since) {
        lc_sid_parse(&c->last, since->p, since->n);
        c->resume = 1;
    }
    c->state = LC_CONN_WAITING;
    lc__room_list_move(&r->waiting, c);
    r->empty_since = 0;
    if (r->sub == SUB_NONE) {
        if (lc_store_subscribe(r->srv->store, lc_room_name(r)) != 0) {
            lc__room_fail_conn(r, c);
            return;
        }
        r->sub = SUB_PENDING;
    }
    start_joins(r);
}

void lc_room_leave(lc_room_t *r, lc_conn_t *c) {
    switch (c->state) {
    case LC_CONN_WAITING:
        lc_list_remove(&c->rlink);
        break;
    case LC_CONN_JOINING:
        lc_ring_reader_remove(r->ring, c->tail);
        r->joining--;
        break;
    case LC_CONN_JOINED:
        lc__room_likes_left(r, c);
        lc_list_remove(&c->rlink);
        lc_ring_reader_remove(r->ring, c->tail);
        r->local--;
        if (c->role == LC_ROLE_STREAMER) r->streamers--;
        break;
    default:
        break;
    }
    c->state = LC_CONN_CLOSED;
}

/* ---- catching up after the subscription came back ---- */

void lc__room_start_recover(lc_room_t *r) {
    if (r->recovering || r->sub != SUB_LIVE) return;
    if (!r->have_pushed && !r->have_floor) return; /* no one has anything yet */
    join_op_t *op = calloc(1, sizeof(*op));
    if (!op) {
        r->need_recover = 1;
        return;
    }
    op->room = r;
    r->refs++;
    op->recover = 1;
    op->since = r->have_pushed ? r->last_pushed : r->floor;
    r->recovering = 1;
    r->need_recover = 0;
    if (send_request(r, op, &op->since, 0) != 0) {
        r->recovering = 0;
        r->need_recover = 1;
        op_free(op);
    }
}

static void finish_recover(lc_room_t *r, int status, const lc_msg_t *st, lc_sid_t since) {
    r->recovering = 0;
    if (status != LC_STORE_OK) {
        r->srv->m.redis_failures++;
        r->need_recover = 1; /* the tick tries again; live entries stay held */
        return;
    }
    if (!(lc_msg_has(st, recovered) && st->recovered) || r->held_overflow) lc__room_push_gap(r, since);
    r->held_overflow = 0;
    size_t pushed = 0;
    for (size_t i = 0; i < st->history.n; i++) {
        lc_frame_t *f = lc_frame_from_msg(&st->history.items[i], &r->srv->scratch);
        if (f) {
            lc__room_push_entry(r, f);
            pushed++;
        }
    }
    for (size_t i = 0; i < r->nheld; i++) lc__room_push_entry(r, r->held[i]);
    r->nheld = 0;
    if (st->likes > r->likes_total) r->likes_total = st->likes;
    r->viewers_total = st->viewers + r->local;
    /* what the channel said in the gap is not in the stream (a sale reopened, a coupon dropped,
     * a lottery opened): the features hear Redis's state now, as at a join (nobody is welcomed) */
    lc_msg_t w;
    lc_msg_init(&w, LC_MSG_WELCOME);
    (void)features_hear(r, st, &w);
    if (pushed) lc_log("room %.*s: caught up %zu entries after resubscribing", r->nlen, r->name, pushed);
}

/* ---- store events ---- */

void lc_rooms_on_subscribed(lc_rooms_t *rs, lc_str_t name) {
    lc_room_t *r = lc_map_get(rs->by_name, name.p, name.n);
    if (!r || r->sub == SUB_NONE || r->sub == SUB_LIVE) return;
    r->sub = SUB_LIVE;
    if (r->local || r->joining) lc__room_start_recover(r);
    start_joins(r);
}

/* The store's connections changed: nobody waits on a Redis that is gone,
 * and shares are asserted again (Redis may have lost them). Rooms whose
 * subscription stopped hear it one by one (lc_rooms_on_sub_lost). */
void lc_rooms_on_store_state(lc_rooms_t *rs) {
    lc_store_t *store = rs->srv->store;
    int up = lc_store_up(store), sub_up = lc_store_sub_up(store);
    lc_list_foreach(it, &rs->all) {
        lc_room_t *r = LC_CONTAINER_OF(it, lc_room_t, link);
        lc_list_t *w;
        while ((!up || !sub_up) && (w = lc_list_first(&r->waiting)))
            lc__room_fail_conn(r, LC_CONTAINER_OF(w, lc_conn_t, rlink));
        if (up) r->share_at = 0;
    }
}

/* The room's subscription stopped (its node's subscriber dropped, or its
 * slot moved): until on_subscribed, live entries may be missed, so the
 * room catches up from the stream then; joins wait for it no longer. */
void lc_rooms_on_sub_lost(lc_rooms_t *rs, lc_str_t name) {
    lc_room_t *r = lc_map_get(rs->by_name, name.p, name.n);
    if (!r || r->sub != SUB_LIVE) return;
    r->sub = SUB_PENDING;
    lc_list_t *w;
    while ((w = lc_list_first(&r->waiting))) lc__room_fail_conn(r, LC_CONTAINER_OF(w, lc_conn_t, rlink));
    r->share_at = 0;
}
