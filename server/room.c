/*
 * Rooms: lifetime, fan-out, and the room's part of every write.
 *
 * Order: a room's order is Redis's order. Stream entries (comments, the
 * shop's announcements and products) reach the ring only from the room's
 * channel (the sender's own shard included), so every viewer on every
 * shard sees the same sequence.
 *
 * Fan-out: an incoming message is encoded once per format into the room's
 * ring; each joined connection keeps its own position in it, and the write
 * path (conn.c) asks room_fill for the frames after that position. Readers
 * that are caught up sit on the idle list and are woken once per push;
 * readers that are behind already have a write pending, so a push costs
 * O(idle readers).
 *
 * Rooms are freed only by the tick (room_counters.c), never inside a
 * callback: callbacks hold references, and the tick frees a room that is
 * empty, flushed, unsubscribed and unreferenced.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "room_int.h"
#include "store.h"

static void room_fill(lc_conn_t *c, lc_conn_batch_t *b, int *more);

/* ---- the registry ---- */

lc_rooms_t *lc_rooms_create(lc_server_t *srv, const lc_feature_t *const *features) {
    lc_rooms_t *rs = calloc(1, sizeof(*rs));
    if (!rs || !(rs->by_name = lc_map_create())) {
        free(rs);
        return NULL;
    }
    rs->srv = srv;
    lc_list_init(&rs->all);
    rs->features = features;
    while (features && features[rs->nfeatures]) rs->nfeatures++;
    if (rs->nfeatures > LC_FEATURES_MAX) {
        lc_log("rooms: %zu features, at most %d", rs->nfeatures, LC_FEATURES_MAX);
        lc_map_destroy(rs->by_name);
        free(rs);
        return NULL;
    }
    lc_conns_set_fill(srv->conns, room_fill);
    return rs;
}

size_t lc_rooms_count(const lc_rooms_t *rs) { return lc_map_size(rs->by_name); }

int lc_room_name_valid(const char *s, size_t n) { return lc_ident_valid(s, n); }
lc_str_t lc_room_name(const lc_room_t *r) { return lc_str(r->name, r->nlen); }
lc_server_t *lc_room_server(const lc_room_t *r) { return r->srv; }
uint32_t lc_room_joined(const lc_room_t *r) { return r->local; }
uint32_t lc_room_streamers(const lc_room_t *r) { return r->streamers; }
uint32_t lc_room_streamer_joins(const lc_room_t *r) { return r->streamer_joins; }

void lc_room_set_role(lc_room_t *r, lc_conn_t *c, lc_role_t role) {
    if (r && c->state == LC_CONN_JOINED) {
        r->streamers += (role == LC_ROLE_STREAMER) - (c->role == LC_ROLE_STREAMER);
        r->streamer_joins += role == LC_ROLE_STREAMER && c->role != LC_ROLE_STREAMER;
    }
    c->role = (uint8_t)role;
}
void lc_room_ref(lc_room_t *r) { r->refs++; }
void lc_room_unref(lc_room_t *r) { r->refs--; }

void **lc_room_slot(lc_room_t *r, const char *feature) {
    for (size_t i = 0; i < r->rs->nfeatures; i++)
        if (strcmp(r->rs->features[i]->name, feature) == 0) return &r->slots[i];
    return NULL;
}

lc_room_t *lc_room_get(lc_rooms_t *rs, const char *name, size_t n) {
    lc_room_t *r = lc_map_get(rs->by_name, name, n);
    if (r) {
        r->refs++;
        return r;
    }
    r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->ring = lc_ring_create(rs->srv->cfg.ring_slots, rs->srv->cfg.ring_bytes);
    if (!r->ring || lc_map_put(rs->by_name, name, n, r) != 0) {
        lc_ring_destroy(r->ring);
        free(r);
        return NULL;
    }
    r->srv = rs->srv;
    r->rs = rs;
    memcpy(r->name, name, n);
    r->nlen = (uint8_t)n;
    r->likes_sent = r->viewers_sent = -1;
    lc_list_init(&r->waiting);
    lc_list_init(&r->idle);
    lc_list_init(&r->busy);
    lc_list_push_front(&rs->all, &r->link);
    r->refs = 1;
    return r;
}

/* ---- who sent the likes (the batches are room_counters.c's) ---- */

int lc__room_add_liker(lc_store_liker_t **a, size_t *n, size_t *cap, const lc_conn_t *c) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        lc_store_liker_t *p = realloc(*a, nc * sizeof(*p));
        if (!p) return -1;
        *a = p;
        *cap = nc;
    }
    lc_store_liker_t *l = &(*a)[(*n)++];
    memcpy(l->user, c->user, c->ulen);
    l->ulen = c->ulen;
    l->n = c->likes;
    return 0;
}

void lc__room_likes_left(lc_room_t *r, lc_conn_t *c) {
    if (c->likes && lc__room_add_liker(&r->left, &r->nleft, &r->capleft, c) == 0) c->likes = 0;
}

void lc__room_likes_free(lc_room_t *r) {
    free(r->left);
    free(r->inflight);
    r->left = r->inflight = NULL;
}

void lc__room_free(lc_room_t *r) {
    lc_rooms_t *rs = r->rs;
    lc_map_del(rs->by_name, r->name, r->nlen);
    lc_list_remove(&r->link);
    for (size_t i = 0; i < r->nheld; i++) lc_frame_unref(r->held[i]);
    free(r->held);
    lc__room_likes_free(r);
    for (size_t i = 0; i < rs->nfeatures; i++)
        if (rs->features[i]->on_free && r->slots[i]) rs->features[i]->on_free(r, r->slots[i]);
    lc_ring_destroy(r->ring);
    free(r);
}

void lc_rooms_destroy(lc_rooms_t *rs) {
    if (!rs) return;
    lc_list_t *it;
    while ((it = lc_list_first(&rs->all))) lc__room_free(LC_CONTAINER_OF(it, lc_room_t, link));
    lc_map_destroy(rs->by_name);
    free(rs);
}

int lc__room_features_busy(lc_room_t *r) {
    for (size_t i = 0; i < r->rs->nfeatures; i++)
        if (r->rs->features[i]->busy && r->rs->features[i]->busy(r)) return 1;
    return 0;
}

/* ---- fan-out ---- */

void lc__room_list_move(lc_list_t *to, lc_conn_t *c) {
    lc_list_remove(&c->rlink);
    lc_list_push_front(to, &c->rlink);
}

/* Every caught-up reader has something new: wake it. */
static void wake_idle(lc_room_t *r) {
    lc_list_t *it;
    while ((it = lc_list_first(&r->idle))) {
        lc_conn_t *c = LC_CONTAINER_OF(it, lc_conn_t, rlink);
        c->idle = 0;
        lc__room_list_move(&r->busy, c);
        lc_conn_wake(c);
    }
}

void lc__room_push(lc_room_t *r, lc_frame_t *f) {
    if (lc_ring_push(r->ring, f) == UINT64_MAX) return;
    wake_idle(r);
}

void lc__room_push_entry(lc_room_t *r, lc_frame_t *f) {
    /* a catch-up can overlap live traffic: an entry pushed already is dropped */
    if (r->have_pushed && lc_sid_cmp(f->id, r->last_pushed) <= 0) {
        lc_frame_unref(f);
        return;
    }
    r->last_pushed = f->id;
    r->have_pushed = 1;
    lc__room_push(r, f);
}

void lc_room_broadcast(lc_room_t *r, const lc_msg_t *m) {
    lc_frame_t *f = lc_frame_from_msg(m, &r->srv->scratch);
    if (f) lc__room_push(r, f);
}

void lc__room_push_gap(lc_room_t *r, lc_sid_t after) {
    char buf[42];
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_GAP);
    lc_msg_set(&m, last, lc_str(buf, lc_sid_format(after, buf)));
    lc_room_broadcast(r, &m);
}

void lc__room_counter_msg(lc_msg_t *m, int likes, int64_t v) {
    lc_msg_init(m, likes ? LC_MSG_LIKES : LC_MSG_VIEWERS);
    if (likes)
        lc_msg_set(m, total, v);
    else
        lc_msg_set(m, count, v);
}

void lc__room_send_state(lc_room_t *r, lc_conn_t *c) {
    lc_msg_t m;
    lc__room_counter_msg(&m, 1, r->likes_total);
    lc_conn_send_msg(c, &m);
    lc__room_counter_msg(&m, 0, r->viewers_total);
    lc_conn_send_msg(c, &m);
}

void lc_room_foreach_joined(lc_room_t *r, void (*fn)(lc_conn_t *c, void *arg), void *arg) {
    lc_list_foreach_safe(it, &r->idle) fn(LC_CONTAINER_OF(it, lc_conn_t, rlink), arg);
    lc_list_foreach_safe(it, &r->busy) fn(LC_CONTAINER_OF(it, lc_conn_t, rlink), arg);
}

typedef struct to_user {
    lc_str_t user;
    const lc_msg_t *msg;
} to_user_t;

static void send_if_user(lc_conn_t *c, void *arg) {
    const to_user_t *t = arg;
    if (c->ulen == t->user.n && memcmp(c->user, t->user.p, t->user.n) == 0) lc_conn_send_msg(c, t->msg);
}

void lc_room_send_to_user(lc_room_t *r, lc_str_t user, const lc_msg_t *m) {
    to_user_t t = {user, m};
    lc_room_foreach_joined(r, send_if_user, &t);
}

/* ---- the room's part of a write ---- */

/* A reader the ring dropped messages under: tell it (`gap`, then the
 * counters), and go on from the oldest message still held -- or close it
 * when it keeps falling behind. Returns 1 if it is closing. */
static int lapped(lc_room_t *r, lc_conn_t *c) {
    lc_server_t *srv = r->srv;
    srv->m.gaps++;
    uint64_t to = lc_ring_tail(r->ring);
    lc_ring_reader_move(r->ring, c->tail, to);
    c->tail = to;
    if (++c->gaps > srv->cfg.max_gaps) {
        srv->m.slow_closed++;
        lc_conn_close(c, LC_CLOSE_POLICY, "too slow");
        return 1;
    }
    char buf[42];
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_GAP);
    lc_msg_set(&m, last, lc_str(buf, lc_sid_format(c->last, buf)));
    lc_conn_send_msg(c, &m);
    lc__room_send_state(r, c);
    return 0;
}

/* The ring's frames after c's position, skipping stream entries its welcome
 * already held (ids up to c->last). A reader that reaches the head parks
 * on the idle list until the next push. */
static void room_fill(lc_conn_t *c, lc_conn_batch_t *b, int *more) {
    lc_room_t *r = c->room;
    if (c->state != LC_CONN_JOINED) return;
    lc_ring_t *ring = r->ring;
    if (c->tail < lc_ring_tail(ring)) {
        if (!lapped(r, c)) *more = 1; /* the gap and counters first: they are queued */
        return;
    }
    uint64_t pos = c->tail, head = lc_ring_head(ring);
    while (pos < head) {
        lc_frame_t *f = lc_ring_at(ring, pos);
        int entry = f->kind == LC_FRAME_COMMENT;
        if (!(entry && lc_sid_cmp(f->id, c->last) <= 0)) {
            if (!lc_conn_batch_add_frame(b, f)) break;
            if (entry) c->last = f->id;
        }
        pos++;
    }
    if (pos != c->tail) {
        lc_ring_reader_move(ring, c->tail, pos);
        c->tail = pos;
    }
    if (pos < head) {
        *more = 1;
    } else if (!c->idle) {
        c->idle = 1;
        lc__room_list_move(&r->idle, c);
    }
}

/* ---- the channel ---- */

/* A stream entry from the channel: into the ring -- or, while the room
 * catches up after its subscription came back, held (bounded like the ring)
 * until the stream's answer is in, so the ring stays in id order. */
static void on_entry(lc_room_t *r, const lc_msg_t *m) {
    lc_frame_t *f = lc_frame_from_msg(m, &r->srv->scratch);
    if (!f) return;
    if (!r->recovering && !r->need_recover) {
        lc__room_push_entry(r, f);
        return;
    }
    if (r->nheld == r->capheld) {
        size_t cap = r->capheld ? r->capheld * 2 : 64;
        lc_frame_t **h = cap <= r->srv->cfg.ring_slots ? realloc(r->held, cap * sizeof(*h)) : NULL;
        if (!h) {
            lc_frame_unref(f);
            r->held_overflow = 1;
            return;
        }
        r->held = h;
        r->capheld = cap;
    }
    r->held[r->nheld++] = f;
}

static void on_bus(lc_room_t *r, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_COMMENT:
    case LC_MSG_ANNOUNCE:
    case LC_MSG_PRODUCT:
        on_entry(r, m);
        return;
    case LC_MSG_LIKES:
        if (m->total > r->likes_total) r->likes_total = m->total; /* totals only grow */
        /* features may watch it too (the likes board): what they answer does not matter */
        for (size_t i = 0; i < r->rs->nfeatures; i++)
            if (r->rs->features[i]->on_bus) (void)r->rs->features[i]->on_bus(r, m);
        return;
    case LC_MSG_VIEWERS:
        r->viewers_total = m->count; /* the channel's order is Redis's order */
        r->viewers_heard = 1;
        return;
    default:
        /* a feature's (a message of a newer shard's feature nobody here has: ignored) */
        for (size_t i = 0; i < r->rs->nfeatures; i++)
            if (r->rs->features[i]->on_bus && r->rs->features[i]->on_bus(r, m)) return;
    }
}

void lc_rooms_on_message(lc_rooms_t *rs, lc_str_t name, const char *payload, size_t len) {
    lc_room_t *r = lc_map_get(rs->by_name, name.p, name.n);
    if (!r || r->sub == SUB_NONE) return;
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, LC_FMT_MSGPACK, (lc_dir_t)(LC_DIR_S2C | LC_DIR_BUS), payload, len, &err) != 0) {
        lc_log("room %.*s: dropped a bad channel message: %s", (int)name.n, name.p, err.message);
        return;
    }
    on_bus(r, &m);
    lc_msg_clear(&m);
}
