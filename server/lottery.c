/*
 * Lucky bags: the open lottery's view, its requests, the draw and the news.
 * See lottery.h and PROTOCOL.md ("Lucky bag").
 */
#include "lottery.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "draw.h"
#include "room.h"
#include "store.h"

#define FEATURE "lottery"

typedef struct view {
    lc_room_t *room;
    char id[65];
    uint8_t n, open, told, busy; /* told: this lottery's result went to this shard's viewers */
    uint8_t recording;           /* the call in flight is a record (its "none": ask the draw again) */
    int64_t ends, skew;          /* Redis's clock; Redis's minus the loop's */
    uint64_t next_ms;            /* the loop's clock: not before this, ask for the draw again */
} view_t;

static view_t *of(lc_room_t *r, int create) {
    view_t **v = (view_t **)lc_room_slot(r, FEATURE);
    if (!v) return NULL;
    if (!*v && create && (*v = calloc(1, sizeof(view_t)))) {
        (*v)->room = r;
        (*v)->skew = lc_wall_ms() - (int64_t)uv_now(lc_room_server(r)->loop);
    }
    return *v;
}

static int is(const view_t *v, lc_str_t id) { return v->n == id.n && memcmp(v->id, id.p, id.n) == 0; }

/* A lottery message (open, or a welcome's): this shard follows it. */
static void start(lc_room_t *r, const lc_msg_t *m) {
    view_t *v = of(r, 1);
    if (!v || m->lottery.n > 64) return;
    if (!is(v, m->lottery)) v->told = 0; /* (a call in flight for another one: its answer names it) */
    memcpy(v->id, m->lottery.p, m->lottery.n);
    v->n = (uint8_t)m->lottery.n;
    v->ends = m->ends;
    v->open = 1;
}

/* The result: once to this shard's viewers (the bus copy and a draw's
 * answer may both bring it), `won` to the winners among them. */
static void tell_result(lc_room_t *r, const lc_msg_t *m) {
    view_t *v = of(r, 1);
    if (v && is(v, m->lottery) && v->told) return;
    if (v && v->open && !is(v, m->lottery)) v = NULL; /* an older one's: the view follows the new one */
    if (v && m->lottery.n <= 64) {
        memcpy(v->id, m->lottery.p, m->lottery.n);
        v->n = (uint8_t)m->lottery.n;
        v->open = 0;
        v->told = 1;
    }
    lc_msg_t out = *m;
    lc_msg_unset(&out, prize); /* the bus's: for `won` */
    lc_room_broadcast(r, &out);
    if (!lc_msg_has(m, prize)) return;
    lc_msg_t won;
    lc_msg_init(&won, LC_MSG_WON);
    lc_msg_set(&won, lottery, m->lottery);
    lc_msg_set(&won, prize, m->prize);
    for (size_t i = 0; i < m->winner_list.n; i++) lc_room_send_to_user(r, m->winner_list.items[i], &won);
}

static int on_bus(lc_room_t *r, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_LOTTERY:
        start(r, m);
        lc_room_broadcast(r, m);
        return 1;
    case LC_MSG_ENTERED: {
        lc_msg_t out; /* without the bus's user */
        lc_msg_init(&out, LC_MSG_ENTERED);
        lc_msg_set(&out, lottery, m->lottery);
        lc_room_send_to_user(r, m->user, &out);
        return 1;
    }
    case LC_MSG_LOTTERY_RESULT:
        tell_result(r, m);
        return 1;
    default:
        return 0;
    }
}

static int on_welcome(lc_room_t *r, const lc_msg_t *st, lc_msg_t *w) {
    for (size_t i = 0; i < st->lotteries.n; i++)
        if (st->lotteries.items[i].type == LC_MSG_LOTTERY) start(r, &st->lotteries.items[i]);
    if (st->lotteries.n) lc_msg_set(w, lotteries, st->lotteries);
    return 0;
}

/* ---- the draw ---- */

static void on_drawn(void *arg, int status, const lc_msg_t *reply);

/* The lottery is closed: the winners' positions from its seed and n, then
 * Redis records who is there (both steps idempotent: any shard, again). */
static int record(view_t *v, const lc_msg_t *st) {
    uint8_t seed[32];
    uint64_t pos[LC_DRAW_MAX_K];
    if (!lc_msg_has(st, seed) || lc_draw_unhex(st->seed.p, st->seed.n, seed) != 0 || st->entry_count < 0 ||
        st->count < 0 || !is(v, st->lottery))
        return -1;
    int k = lc_draw_positions(seed, (uint64_t)st->entry_count, (unsigned)st->count, pos);
    if (k < 0) return -1;
    lc_room_t *r = v->room;
    lc_room_ref(r);
    v->busy = 1;
    v->recording = 1;
    if (lc_store_lottery_record(lc_room_server(r)->store, lc_room_name(r), lc_str(v->id, v->n), pos, (size_t)k,
                                on_drawn, v) != 0) {
        v->busy = 0;
        lc_room_unref(r);
        return -1;
    }
    return 0;
}

static void on_drawn(void *arg, int status, const lc_msg_t *reply) {
    view_t *v = arg;
    lc_room_t *r = v->room;
    int was_record = v->recording;
    v->busy = v->recording = 0;
    uint64_t now = uv_now(lc_room_server(r)->loop);
    v->next_ms = now + 500;
    if (status == LC_STORE_OK && reply->type == LC_MSG_LOTTERY_RESULT) {
        tell_result(r, reply); /* in case its bus copy was missed */
    } else if (status == LC_STORE_OK && reply->type == LC_MSG_LOTTERY_STATE && lc_str_eq(reply->status, "closed")) {
        v->told = 0; /* not recorded (again, after a failover lost it): whatever was told is not it */
        if (record(v, reply) == 0) v->next_ms = now; /* (else asked again in 500 ms) */
    } else if (status == LC_STORE_OK && reply->type == LC_MSG_REPLY) {
        /* the draw's none: no such lottery, stop; the record's: the close was
         * lost (a failover): ask for the draw again */
        if (lc_str_eq(reply->status, "none") && !was_record) v->open = 0;
        if (lc_msg_has(reply, ts)) v->skew = reply->ts - (int64_t)now;
    }
    lc_room_unref(r);
}

static void on_tick(lc_room_t *r, uint64_t now) {
    view_t *v = of(r, 0);
    if (!v || !v->open || v->busy || now < v->next_ms || (int64_t)now + v->skew < v->ends) return;
    lc_room_ref(r);
    v->busy = 1;
    if (lc_store_lottery_draw(lc_room_server(r)->store, lc_room_name(r), lc_str(v->id, v->n), on_drawn, v) != 0) {
        v->busy = 0;
        v->next_ms = now + 500;
        lc_room_unref(r);
    }
}

static int busy(lc_room_t *r) {
    view_t *v = of(r, 0);
    return v && v->busy;
}

/* ---- requests ---- */

static void hex(const unsigned char *b, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void on_opened(void *arg, int status, const lc_msg_t *r) {
    lc_conn_t *c = arg;
    if (!lc_conn_answer_lost(c, status, r, LC_MSG_REPLY,
                             "lottery_open: no answer from storage, it may have happened: watch the room")) {
        if (lc_str_eq(r->status, "open"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "a lottery is open in this room: one at a time");
        else if (lc_str_eq(r->status, "exists"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "this lottery id was used in this room");
    }
    lc_conn_unref(c);
}

static void open_lottery(lc_conn_t *c, const lc_msg_t *m) {
    if (c->role != LC_ROLE_STREAMER) {
        lc_conn_send_error(c, LC_ERR_FORBIDDEN, "only the streamer opens lotteries");
        return;
    }
    unsigned char seed[32], digest[SHA256_DIGEST_LENGTH];
    char seed_hex[65], commit_hex[65];
    if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) || !SHA256(seed, sizeof(seed), digest)) {
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "no randomness for the seed, retry later");
        return;
    }
    hex(seed, sizeof(seed), seed_hex);
    hex(digest, sizeof(digest), commit_hex);
    lc_store_lottery_open_req_t req = {
        .room = lc_room_name(c->room), .lottery = m->lottery, .prize = m->prize,
        .keyword = lc_msg_has(m, keyword) ? m->keyword : lc_str("", 0), .winners = m->winners, .secs = m->secs,
        .seed_hex = seed_hex, .commit_hex = commit_hex,
    };
    lc_conn_ref(c);
    if (lc_store_lottery_open(c->srv->store, &req, on_opened, c) != 0) {
        lc_conn_unref(c);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    }
}

typedef struct enter_op {
    lc_conn_t *c;
    uint8_t n;
    char id[65];
} enter_op_t;

static void enter_status(lc_conn_t *c, lc_str_t id, const char *st) {
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_ENTER);
    lc_msg_set(&m, lottery, id);
    lc_msg_set(&m, status, lc_cstr(st));
    lc_conn_send_msg(c, &m);
}

static void on_entered(void *arg, int status, const lc_msg_t *r) {
    enter_op_t *o = arg;
    if (status != LC_STORE_OK || r->type != LC_MSG_ENTER) {
        o->c->srv->m.redis_failures++;
        enter_status(o->c, lc_str(o->id, o->n), status == LC_STORE_REFUSED ? "unavailable" : "unknown");
    } else {
        lc_conn_send_msg(o->c, r);
    }
    lc_conn_unref(o->c);
    free(o);
}

static void enter(lc_conn_t *c, const lc_msg_t *m) {
    if (!lc_conn_take_token(c)) {
        enter_status(c, m->lottery, "rate_limited");
        lc_conn_limited(c);
        return;
    }
    if (!lc_ident_valid(m->lottery.p, m->lottery.n)) {
        enter_status(c, m->lottery, "closed"); /* no lottery has such an id */
        return;
    }
    enter_op_t *o = calloc(1, sizeof(*o));
    if (o) {
        o->c = lc_conn_ref(c);
        o->n = (uint8_t)m->lottery.n;
        memcpy(o->id, m->lottery.p, m->lottery.n);
    }
    if (!o || lc_store_lottery_enter(c->srv->store, lc_room_name(c->room), m->lottery, lc_str(c->user, c->ulen),
                                     on_entered, o) != 0) {
        if (o) {
            lc_conn_unref(o->c);
            free(o);
        }
        enter_status(c, m->lottery, "unavailable");
    }
}

static void on_message(lc_conn_t *c, const lc_msg_t *m) {
    if (m->type == LC_MSG_LOTTERY_OPEN) open_lottery(c, m);
    else if (m->type == LC_MSG_LOTTERY_ENTER) enter(c, m);
}

static const lc_msg_type_t messages[] = {LC_MSG_LOTTERY_OPEN, LC_MSG_LOTTERY_ENTER, LC_MSG_NONE};

const lc_feature_t lc_lottery_feature = {
    .name = FEATURE,
    .messages = messages,
    .on_message = on_message,
    .on_bus = on_bus,
    .on_welcome = on_welcome,
    .on_tick = on_tick,
    .busy = busy,
    .on_free = lc_feature_free_slot,
};
