/*
 * Rooms: ordering, fan-out, joins and the coalesced counters.
 *
 * Order: a room's order is Redis's order. Comments reach the ring only from
 * the room's channel (the sender's own shard included), so every viewer on
 * every shard sees the same sequence.
 *
 * Joining without holes or duplicates: the room subscribes before it asks
 * Redis for history, and a joiner registers as a ring reader at the ring's
 * head *before* the history request is sent. Every comment published after
 * Redis ran the request therefore lands in the ring at or after the
 * joiner's position; those the history already holds are skipped by the
 * per-connection "newest delivered id" check on the write path.
 *
 * Catching up: when the subscriber connection comes back, each room asks
 * for the stream entries after the newest one it pushed, holding live
 * messages until the answer is in, then pushes both in id order.
 *
 * Rooms are freed only by the tick, never inside a callback: callbacks hold
 * references, and the tick frees a room that is empty, flushed,
 * unsubscribed and unreferenced.
 */
#include "room.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "moderation.h"
#include "sale.h"
#include "store.h"

enum { SUB_NONE, SUB_PENDING, SUB_LIVE };

struct lc_room {
    lc_server_t *srv;
    lc_room_t *prev, *next;
    uint32_t refs;
    uint8_t nlen;
    char name[65];
    lc_ring_t *ring;
    lc_conn_t *waiting;     /* hello said, join not sent yet */
    lc_conn_t *idle, *busy; /* joined: caught up / with something to write */
    uint32_t local;         /* joined connections on this shard */
    uint32_t joining;       /* connections inside a join request */
    uint8_t sub, batch_busy, recovering, need_recover, have_pushed, have_floor;
    lc_sid_t last_pushed; /* newest comment pushed into the ring */
    lc_sid_t floor;       /* oldest history end handed out (catch-up start when nothing pushed) */
    lc_frame_t **held;    /* live comments held while catching up */
    size_t nheld, capheld;
    int held_overflow;
    int64_t likes_total, likes_sent, viewers_total, viewers_sent;
    int viewers_heard; /* a viewers message came through the channel */
    int64_t likes_pending, likes_inflight;
    uint64_t likes_seq;
    uint8_t likes_busy, share_busy;
    int64_t share_flushed, share_sending;
    uint64_t share_at, empty_since;
    struct lc_sales *sales; /* sale.c's view of the room's open skus */
};

typedef struct join_op {
    lc_room_t *room;
    int resume, recover;
    lc_sid_t since;
    size_t n;
    lc_conn_t *conns[];
} join_op_t;

/* ---- small helpers ---- */

int lc_room_name_valid(const char *s, size_t n) { return lc_ident_valid(s, n); }

const char *lc_room_name(const lc_room_t *r, size_t *n) {
    *n = r->nlen;
    return r->name;
}

lc_ring_t *lc_room_ring(lc_room_t *r) { return r->ring; }
lc_server_t *lc_room_server(lc_room_t *r) { return r->srv; }
void lc_room_ref(lc_room_t *r) { r->refs++; }
struct lc_sales **lc_room_sales(lc_room_t *r) { return &r->sales; }

static void list_add(lc_conn_t **head, lc_conn_t *c) {
    c->rprev = NULL;
    c->rnext = *head;
    if (*head) (*head)->rprev = c;
    *head = c;
}

static void list_del(lc_conn_t **head, lc_conn_t *c) {
    if (c->rprev)
        c->rprev->rnext = c->rnext;
    else
        *head = c->rnext;
    if (c->rnext) c->rnext->rprev = c->rprev;
    c->rprev = c->rnext = NULL;
}

static uint64_t now_ms(lc_room_t *r) { return uv_now(r->srv->loop); }

/* ---- lifetime ---- */

lc_room_t *lc_room_get(lc_server_t *srv, const char *name, size_t n) {
    lc_room_t *r = lc_map_get(srv->rooms, name, n);
    if (r) {
        r->refs++;
        return r;
    }
    r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->ring = lc_ring_create(srv->cfg.ring_slots, srv->cfg.ring_bytes);
    if (!r->ring || lc_map_put(srv->rooms, name, n, r) != 0) {
        lc_ring_destroy(r->ring);
        free(r);
        return NULL;
    }
    r->srv = srv;
    memcpy(r->name, name, n);
    r->nlen = (uint8_t)n;
    r->likes_sent = r->viewers_sent = -1;
    r->next = srv->room_list;
    if (r->next) r->next->prev = r;
    srv->room_list = r;
    r->refs = 1;
    return r;
}

void lc_room_unref(lc_room_t *r) { r->refs--; }

static void room_free(lc_room_t *r) {
    lc_server_t *srv = r->srv;
    lc_map_del(srv->rooms, r->name, r->nlen);
    if (r->prev)
        r->prev->next = r->next;
    else
        srv->room_list = r->next;
    if (r->next) r->next->prev = r->prev;
    for (size_t i = 0; i < r->nheld; i++) lc_frame_unref(r->held[i]);
    free(r->held);
    lc_sale_free(r->sales);
    lc_ring_destroy(r->ring);
    free(r);
}

/* ---- fan-out ---- */

/* Every caught-up reader has something new: wake it. Readers that are not
 * caught up already have a WRITEABLE pending, so a push costs O(idle). */
static void wake_idle(lc_room_t *r) {
    while (r->idle) {
        lc_conn_t *c = r->idle;
        list_del(&r->idle, c);
        c->idle = 0;
        list_add(&r->busy, c);
        lc_conn_wake(c);
    }
}

static void push(lc_room_t *r, lc_frame_t *f) {
    if (lc_ring_push(r->ring, f) == UINT64_MAX) return;
    wake_idle(r);
}

void lc_room_reader_idle(lc_room_t *r, lc_conn_t *c) {
    if (c->state != LC_CONN_JOINED || c->idle) return;
    list_del(&r->busy, c);
    list_add(&r->idle, c);
    c->idle = 1;
}

static void push_msg(lc_room_t *r, const lc_msg_t *m) {
    lc_frame_t *f = lc_frame_from_msg(m, &r->srv->scratch);
    if (f) push(r, f);
}

void lc_room_broadcast(lc_room_t *r, const lc_msg_t *m) { push_msg(r, m); }

void lc_room_foreach_joined(lc_room_t *r, void (*fn)(lc_conn_t *c, void *arg), void *arg) {
    for (lc_conn_t *c = r->idle; c; c = c->rnext) fn(c, arg);
    for (lc_conn_t *c = r->busy; c; c = c->rnext) fn(c, arg);
}

/* Pushes a comment frame unless the ring already had it (a catch-up can
 * overlap live traffic). */
static void push_comment(lc_room_t *r, lc_frame_t *f) {
    if (r->have_pushed && lc_sid_cmp(f->id, r->last_pushed) <= 0) {
        lc_frame_unref(f);
        return;
    }
    r->last_pushed = f->id;
    r->have_pushed = 1;
    push(r, f);
}

static void push_gap(lc_room_t *r, lc_sid_t after) {
    char buf[42];
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_GAP);
    lc_msg_set(&m, last, lc_str(buf, lc_sid_format(after, buf)));
    push_msg(r, &m);
}

static void counter_msg(lc_msg_t *m, int likes, int64_t v) {
    lc_msg_init(m, likes ? LC_MSG_LIKES : LC_MSG_VIEWERS);
    if (likes)
        lc_msg_set(m, total, v);
    else
        lc_msg_set(m, count, v);
}

void lc_room_send_state(lc_room_t *r, lc_conn_t *c) {
    lc_msg_t m;
    counter_msg(&m, 1, r->likes_total);
    lc_conn_send_msg(c, &m);
    counter_msg(&m, 0, r->viewers_total);
    lc_conn_send_msg(c, &m);
}

/* ---- joins ---- */

/* Turns a stream entry into its message (comment, announce, product);
 * 0, or -1 if it is not one we can send (a malformed entry written by
 * someone else is skipped). */
static int entry_msg(const lc_store_entry_t *e, lc_msg_t *m, lc_sid_t *id) {
    if (lc_sid_parse(id, e->id, e->id_n) != 0 || e->b_n < 1 || !lc_utf8_valid(e->b, e->b_n)) return -1;
    switch (e->kind) {
    case 'c':
        if (e->a_n < 1 || e->a_n > 64 || e->b_n > 500 || !lc_utf8_valid(e->a, e->a_n)) return -1;
        lc_msg_init(m, LC_MSG_COMMENT);
        lc_msg_set(m, user, lc_str(e->a, e->a_n));
        lc_msg_set(m, text, lc_str(e->b, e->b_n));
        break;
    case 'a':
        if (e->b_n > 500) return -1;
        lc_msg_init(m, LC_MSG_ANNOUNCE);
        lc_msg_set(m, text, lc_str(e->b, e->b_n));
        break;
    case 'p': {
        char price[24];
        if (!lc_ident_valid(e->a, e->a_n) || e->b_n > 200 || e->c_n < 1 || e->c_n >= sizeof(price)) return -1;
        memcpy(price, e->c, e->c_n);
        price[e->c_n] = '\0';
        lc_msg_init(m, LC_MSG_PRODUCT);
        lc_msg_set(m, sku, lc_str(e->a, e->a_n));
        lc_msg_set(m, title, lc_str(e->b, e->b_n));
        lc_msg_set(m, price, (int64_t)strtoll(price, NULL, 10));
        break;
    }
    default:
        return -1;
    }
    lc_msg_set(m, id, lc_str(e->id, e->id_n));
    lc_msg_set(m, ts, (int64_t)id->ms);
    return 0;
}

static void fail_conn(lc_room_t *r, lc_conn_t *c) {
    if (c->state == LC_CONN_JOINING) {
        lc_ring_reader_remove(r->ring, c->tail);
        r->joining--;
    } else if (c->state == LC_CONN_WAITING) {
        list_del(&r->waiting, c);
    }
    c->state = LC_CONN_NEW;
    lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry hello later");
}

static void op_free(join_op_t *op) {
    for (size_t i = 0; i < op->n; i++) lc_conn_unref(op->conns[i]);
    lc_room_unref(op->room);
    free(op);
}

static void start_joins(lc_room_t *r);
static void finish_recover(lc_room_t *r, int status, const lc_store_join_t *res, lc_sid_t since);

static int is_banned(const lc_store_join_t *res, const lc_conn_t *c) {
    for (size_t i = 0; i < res->nbanned; i++)
        if (res->banned[i].n == c->ulen && memcmp(res->banned[i].s, c->user, c->ulen) == 0) return 1;
    return 0;
}

static void welcome(join_op_t *op, const lc_store_join_t *res) {
    lc_room_t *r = op->room;
    lc_server_t *srv = r->srv;
    lc_msg_t *items = res->n ? calloc(res->n, sizeof(*items)) : NULL;
    size_t n = 0;
    lc_sid_t h = op->resume ? op->since : (lc_sid_t){0, 0};
    for (size_t i = 0; items && i < res->n; i++) {
        lc_sid_t id;
        if (entry_msg(&res->entries[i], &items[n], &id) == 0) {
            n++;
            if (lc_sid_cmp(id, h) > 0) h = id;
        }
    }
    if (!r->have_floor || lc_sid_cmp(h, r->floor) < 0) r->floor = h;
    r->have_floor = 1;

    size_t alive = 0;
    for (size_t i = 0; i < op->n; i++)
        alive += op->conns[i]->state == LC_CONN_JOINING && !is_banned(res, op->conns[i]);
    if (r->local == 0) r->likes_sent = res->likes; /* no one to tell: the welcome says it */
    if (res->likes > r->likes_total) r->likes_total = res->likes;
    if (!r->viewers_heard) r->viewers_total = res->others + r->local + (int64_t)alive;

    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_WELCOME);
    lc_msg_set(&m, room, lc_str(r->name, r->nlen));
    lc_msg_set(&m, shard, lc_cstr(srv->cfg.shard));
    lc_msg_set(&m, viewers, res->others + (int64_t)(r->local + alive));
    lc_msg_set(&m, likes, r->likes_total);
    lc_msg_set(&m, last, lc_str(res->last, res->last_n));
    lc_msg_list_t hist = {items, n};
    lc_msg_set(&m, history, hist);
    lc_msg_t *sales = NULL;
    size_t nsales = 0;
    int ok = !(res->n && !items) && lc_sale_welcome(r, res, &sales, &nsales) == 0;
    lc_msg_list_t sl = {sales, nsales};
    lc_msg_set(&m, sales, sl);
    if (op->resume) lc_msg_set(&m, recovered, res->recovered);
    lc_frame_t *f = ok ? lc_frame_from_msg(&m, &srv->scratch) : NULL;
    free(items);
    free(sales);

    for (size_t i = 0; i < op->n; i++) {
        lc_conn_t *c = op->conns[i];
        if (c->state != LC_CONN_JOINING) continue;
        if (is_banned(res, c)) {
            lc_ring_reader_remove(r->ring, c->tail);
            r->joining--;
            c->state = LC_CONN_NEW;
            lc_moderation_close_banned(c);
            continue;
        }
        if (!f) {
            fail_conn(r, c);
            continue;
        }
        r->joining--;
        lc_conn_send(c, f);
        c->last = h; /* ring comments up to h are in the history: skip them */
        c->state = LC_CONN_JOINED;
        c->idle = 0;
        list_add(&r->busy, c);
        r->local++;
        lc_conn_wake(c);
    }
    if (f) lc_frame_unref(f);
}

static void on_join(void *arg, int status, const lc_store_join_t *res) {
    join_op_t *op = arg;
    lc_room_t *r = op->room;
    if (op->recover) {
        finish_recover(r, status, res, op->since);
    } else if (status != 0) {
        r->srv->m.redis_failures++;
        for (size_t i = 0; i < op->n; i++)
            if (op->conns[i]->state == LC_CONN_JOINING) fail_conn(r, op->conns[i]);
    } else {
        welcome(op, res);
    }
    if (!op->resume && !op->recover) r->batch_busy = 0;
    op_free(op);
    start_joins(r);
}

/* Sends one join request for conns (a batch, or one resuming connection). */
static void send_join(lc_room_t *r, lc_conn_t **conns, size_t n, const lc_sid_t *since) {
    lc_server_t *srv = r->srv;
    join_op_t *op = calloc(1, sizeof(*op) + n * sizeof(lc_conn_t *));
    if (!op) {
        for (size_t i = 0; i < n; i++) fail_conn(r, conns[i]);
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
    char sbuf[42];
    size_t sn = since ? lc_sid_format(*since, sbuf) : 0;
    lc_store_val_t *users = calloc(n ? n : 1, sizeof(*users));
    for (size_t i = 0; users && i < n; i++) users[i] = (lc_store_val_t){conns[i]->user, conns[i]->ulen, 0};
    int rc = users ? lc_store_join(srv->store, r->name, r->nlen, srv->cfg.shard, srv->cfg.welcome_history,
                                   since ? sbuf : NULL, sn, srv->cfg.history, users, n, on_join, op)
                   : -1;
    free(users);
    if (rc != 0) {
        for (size_t i = 0; i < op->n; i++) fail_conn(r, op->conns[i]);
        op_free(op);
        return;
    }
    if (!since) r->batch_busy = 1;
}

/* Sends the joins that can go now. Joiners without `since` share one
 * request: in a join storm, Redis answers one history per round trip and
 * the room, not one per viewer. */
static void start_joins(lc_room_t *r) {
    if (r->sub != SUB_LIVE || !lc_store_up(r->srv->store) || !r->waiting) return;
    enum { MAX_BATCH = 4096 };
    lc_conn_t *batch[MAX_BATCH];
    size_t n = 0;
    lc_conn_t *c = r->waiting, *next;
    for (; c; c = next) {
        next = c->rnext;
        if (c->resume) {
            list_del(&r->waiting, c);
            c->resume = 0;
            send_join(r, &c, 1, &c->last);
        } else if (!r->batch_busy && n < MAX_BATCH) {
            list_del(&r->waiting, c);
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
    list_add(&r->waiting, c);
    r->empty_since = 0;
    if (r->sub == SUB_NONE) {
        if (lc_store_subscribe(r->srv->store, r->name, r->nlen) != 0) {
            fail_conn(r, c);
            return;
        }
        r->sub = SUB_PENDING;
    }
    start_joins(r);
}

void lc_room_leave(lc_room_t *r, lc_conn_t *c) {
    switch (c->state) {
    case LC_CONN_WAITING:
        list_del(&r->waiting, c);
        break;
    case LC_CONN_JOINING:
        lc_ring_reader_remove(r->ring, c->tail);
        r->joining--;
        break;
    case LC_CONN_JOINED:
        list_del(c->idle ? &r->idle : &r->busy, c);
        lc_ring_reader_remove(r->ring, c->tail);
        r->local--;
        break;
    default:
        break;
    }
    c->state = LC_CONN_CLOSED;
}

/* ---- catching up after the subscription came back ---- */

static void start_recover(lc_room_t *r) {
    lc_server_t *srv = r->srv;
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
    char sbuf[42];
    size_t sn = lc_sid_format(op->since, sbuf);
    r->recovering = 1;
    r->need_recover = 0;
    if (lc_store_join(srv->store, r->name, r->nlen, srv->cfg.shard, 0, sbuf, sn, srv->cfg.history,
                      NULL, 0, on_join, op) != 0) {
        r->recovering = 0;
        r->need_recover = 1;
        op_free(op);
    }
}

static void release_held(lc_room_t *r) {
    for (size_t i = 0; i < r->nheld; i++) push_comment(r, r->held[i]);
    r->nheld = 0;
}

static void finish_recover(lc_room_t *r, int status, const lc_store_join_t *res, lc_sid_t since) {
    r->recovering = 0;
    if (status != 0) {
        r->srv->m.redis_failures++;
        r->need_recover = 1; /* the tick tries again; live comments stay held */
        return;
    }
    if (!res->recovered || r->held_overflow) push_gap(r, since);
    r->held_overflow = 0;
    size_t pushed = 0;
    for (size_t i = 0; i < res->n; i++) {
        lc_msg_t m;
        lc_sid_t id;
        if (entry_msg(&res->entries[i], &m, &id) != 0) continue;
        lc_frame_t *f = lc_frame_from_msg(&m, &r->srv->scratch);
        if (f) {
            push_comment(r, f);
            pushed++;
        }
    }
    release_held(r);
    if (res->likes > r->likes_total) r->likes_total = res->likes;
    r->viewers_total = res->others + r->local;
    if (pushed) lc_log("room %.*s: caught up %zu comments after resubscribing", r->nlen, r->name, pushed);
}

/* ---- store events ---- */

void lc_rooms_on_message(lc_server_t *srv, const char *name, size_t n, const char *payload,
                         size_t len) {
    lc_room_t *r = lc_map_get(srv->rooms, name, n);
    if (!r || r->sub == SUB_NONE) return;
    lc_msg_t m;
    lc_proto_err_t err;
    if (lc_msg_decode(&m, LC_FMT_MSGPACK, (lc_dir_t)(LC_DIR_S2C | LC_DIR_BUS), payload, len, &err) != 0) {
        lc_log("room %.*s: dropped a bad channel message: %s", (int)n, name, err.message);
        return;
    }
    switch (m.type) {
    case LC_MSG_COMMENT:
    case LC_MSG_ANNOUNCE:
    case LC_MSG_PRODUCT: {
        lc_frame_t *f = lc_frame_from_msg(&m, &srv->scratch);
        if (!f) break;
        if (!r->recovering && !r->need_recover) {
            push_comment(r, f);
            break;
        }
        /* Catching up: hold live comments (bounded like the ring) until the
         * stream's answer is in, so the ring stays in id order. */
        if (r->nheld == r->capheld) {
            size_t cap = r->capheld ? r->capheld * 2 : 64;
            lc_frame_t **h = cap <= srv->cfg.ring_slots ? realloc(r->held, cap * sizeof(*h)) : NULL;
            if (!h) {
                lc_frame_unref(f);
                r->held_overflow = 1;
                break;
            }
            r->held = h;
            r->capheld = cap;
        }
        r->held[r->nheld++] = f;
        break;
    }
    case LC_MSG_LIKES:
        if (m.total > r->likes_total) r->likes_total = m.total; /* totals only grow */
        break;
    case LC_MSG_VIEWERS:
        r->viewers_total = m.count; /* the channel's order is Redis's order */
        r->viewers_heard = 1;
        break;
    default:
        if (!lc_moderation_on_bus(r, &m)) lc_sale_on_bus(r, &m);
        break;
    }
    lc_msg_clear(&m);
}

void lc_rooms_on_subscribed(lc_server_t *srv, const char *name, size_t n) {
    lc_room_t *r = lc_map_get(srv->rooms, name, n);
    if (!r || r->sub == SUB_NONE || r->sub == SUB_LIVE) return;
    r->sub = SUB_LIVE;
    if (r->local || r->joining) start_recover(r);
    start_joins(r);
}

void lc_rooms_on_store_state(lc_server_t *srv) {
    int up = lc_store_up(srv->store), sub_up = lc_store_sub_up(srv->store);
    for (lc_room_t *r = srv->room_list; r; r = r->next) {
        if (!sub_up && r->sub == SUB_LIVE) r->sub = SUB_PENDING; /* the store resubscribes */
        if (!up || !sub_up) {
            /* Nobody waits on a Redis that is gone: hellos fail now. */
            while (r->waiting) fail_conn(r, r->waiting);
        }
        if (up) r->share_at = 0; /* re-assert shares: Redis may have lost them */
    }
}

/* ---- the tick ---- */

static void on_likes(void *arg, int status, int64_t total) {
    lc_room_t *r = arg;
    r->likes_busy = 0;
    if (status == 0) {
        r->likes_inflight = 0;
        if (total > r->likes_total) r->likes_total = total;
    } else {
        r->srv->m.redis_failures++; /* the same batch goes again: applied once */
    }
    lc_room_unref(r);
}

static void flush_likes(lc_room_t *r) {
    lc_server_t *srv = r->srv;
    if (r->likes_busy || !lc_store_up(srv->store)) return;
    if (!r->likes_inflight) {
        if (!r->likes_pending) return;
        r->likes_inflight = r->likes_pending;
        r->likes_pending = 0;
        r->likes_seq++;
    }
    r->refs++;
    if (lc_store_likes(srv->store, r->name, r->nlen, srv->cfg.shard, srv->boot, r->likes_seq,
                       r->likes_inflight, on_likes, r) != 0) {
        r->refs--;
        return;
    }
    r->likes_busy = 1;
}

void lc_room_add_likes(lc_room_t *r, int64_t n) { r->likes_pending += n; }

static void on_share(void *arg, int status, int64_t total) {
    lc_room_t *r = arg;
    r->share_busy = 0;
    if (status == 0) {
        r->share_flushed = r->share_sending;
        r->share_at = now_ms(r);
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
    r->refs++;
    r->share_sending = want;
    if (lc_store_viewers(srv->store, r->name, r->nlen, srv->cfg.shard, want, srv->cfg.share_ttl_ms,
                         on_share, r) != 0) {
        r->refs--;
        return;
    }
    r->share_busy = 1;
}

static void broadcast_counters(lc_room_t *r) {
    lc_msg_t m;
    if (r->likes_total != r->likes_sent) {
        counter_msg(&m, 1, r->likes_total);
        push_msg(r, &m);
        r->likes_sent = r->likes_total;
    }
    if (r->viewers_total != r->viewers_sent) {
        counter_msg(&m, 0, r->viewers_total);
        push_msg(r, &m);
        r->viewers_sent = r->viewers_total;
    }
}

static int room_flushed(lc_room_t *r) {
    return r->share_flushed == 0 && !r->share_busy && !r->likes_pending && !r->likes_inflight &&
           !r->likes_busy && !lc_sale_pending(r);
}

void lc_rooms_tick(lc_server_t *srv) {
    uint64_t now = uv_now(srv->loop);
    lc_room_t *r = srv->room_list, *next;
    for (; r; r = next) {
        next = r->next;
        flush_likes(r);
        flush_share(r, now);
        if (r->need_recover) start_recover(r);
        broadcast_counters(r);
        lc_sale_tick(r, now);
        if (r->local || r->joining || r->waiting) {
            r->empty_since = 0;
            continue;
        }
        if (!room_flushed(r)) continue;
        if (r->sub != SUB_NONE) {
            /* Linger before unsubscribing, so join/leave flapping does not
             * churn Redis. */
            if (!r->empty_since) r->empty_since = now ? now : 1;
            if (now - r->empty_since < srv->cfg.linger_ms && !srv->draining) continue;
            lc_store_unsubscribe(srv->store, r->name, r->nlen);
            r->sub = SUB_NONE;
            r->recovering = r->need_recover = 0;
        }
        if (r->refs == 0) room_free(r);
    }
}

int lc_rooms_flushed(lc_server_t *srv) {
    for (lc_room_t *r = srv->room_list; r; r = r->next)
        if (!room_flushed(r)) return 0;
    return 1;
}

void lc_rooms_destroy_all(lc_server_t *srv) {
    while (srv->room_list) room_free(srv->room_list);
}
