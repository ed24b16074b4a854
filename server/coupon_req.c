/*
 * Coupon drops: the requests of a joined connection and their answers.
 * See coupon.h. The scripts answer in protocol terms (a `claim`, a
 * `my_coupons`, or a `reply`): the answer goes to the requester as it came.
 */
#include <stdlib.h>
#include <string.h>

#include "coupon_req.h"
#include "coupon_view.h"
#include "store.h"

/* A request in flight: the answer goes to the connection, changes to the room. */
typedef struct op {
    lc_conn_t *c;
    lc_room_t *room;
    uint8_t idn, reqn;
    char id[65];  /* the coupon */
    char req[65];
} op_t;

static op_t *op_new(lc_conn_t *c, lc_str_t id, lc_str_t req) {
    op_t *o = calloc(1, sizeof(*o));
    if (!o) return NULL;
    o->c = lc_conn_ref(c);
    o->room = c->room;
    lc_room_ref(o->room);
    o->idn = (uint8_t)(id.n > 64 ? 64 : id.n);
    memcpy(o->id, id.p, o->idn);
    o->reqn = (uint8_t)(req.n > 64 ? 64 : req.n);
    memcpy(o->req, req.p, o->reqn);
    return o;
}

static void op_free(op_t *o) {
    lc_conn_unref(o->c);
    lc_room_unref(o->room);
    free(o);
}

/* Answers a claim with a status only (decided here, or nothing usable came back). */
static void claim_status(lc_conn_t *c, lc_str_t req, lc_str_t coupon, const char *st) {
    lc_metrics_claim(&c->srv->m, st, strlen(st));
    lc_msg_t m;
    lc_msg_init(&m, LC_MSG_CLAIM);
    lc_msg_set(&m, req, req);
    lc_msg_set(&m, coupon, coupon);
    lc_msg_set(&m, status, lc_cstr(st));
    lc_conn_send_msg(c, &m);
}

static void on_claimed(void *arg, int status, const lc_msg_t *r) {
    op_t *o = arg;
    lc_conn_t *c = o->c;
    if (status != LC_STORE_OK || r->type != LC_MSG_CLAIM) {
        /* as for buys: "unavailable" only when it certainly did not run */
        c->srv->m.redis_failures++;
        claim_status(c, lc_str(o->req, o->reqn), lc_str(o->id, o->idn),
                     status == LC_STORE_REFUSED ? "unavailable" : "unknown");
    } else {
        lc_metrics_claim(&c->srv->m, r->status.p, r->status.n);
        if (lc_str_eq(r->status, "ok")) lc__coupon_dirty(o->room, lc_str(o->id, o->idn));
        lc_msg_t out = *r; /* count (bus only): this call, not a replay, took a coupon */
        if (lc_msg_has(r, count)) c->srv->m.coupons[LC_COUPON_CLAIMED]++;
        lc_msg_unset(&out, count);
        lc_conn_send_msg(c, &out);
    }
    op_free(o);
}

static void claim(lc_conn_t *c, const lc_msg_t *m) {
    if (!lc_conn_take_token(c)) {
        claim_status(c, m->req, m->coupon, "rate_limited");
        lc_conn_limited(c);
        return;
    }
    if (!lc_ident_valid(m->coupon.p, m->coupon.n)) {
        claim_status(c, m->req, m->coupon, "invalid");
        return;
    }
    /* heard gone (its coupon_gone, once, from the script that closed it):
     * final for this drop, so answered here -- but a re-send (retry) asks
     * Redis, whose first answer to it may be ok (PROTOCOL.md "Sold out at
     * the shard") */
    cpn_t *k = (lc_msg_has(m, retry) && m->retry) || !c->srv->cfg.answer_sold_out
                   ? NULL
                   : lc__coupon_find(c->room, m->coupon, 0);
    if (k && k->gone) {
        c->srv->m.at_shard[LC_AT_SHARD_CLAIM]++;
        claim_status(c, m->req, m->coupon, k->known && k->left > 0 ? "closed" : "gone"); /* (as coupon.lua) */
        return;
    }
    lc_store_claim_req_t req = {.room = lc_room_name(c->room), .user = lc_str(c->user, c->ulen), .req = m->req,
                                .coupon = m->coupon, .req_ttl_s = c->srv->cfg.req_ttl_s};
    op_t *o = op_new(c, m->coupon, m->req);
    if (!o || lc_store_coupon_claim(c->srv->store, &req, on_claimed, o) != 0) {
        if (o) op_free(o);
        claim_status(c, m->req, m->coupon, "unavailable");
    }
}

/* A drop answers a `reply`: ok (the room hears the coupon through the
 * channel, the streamer included), exists or too_many. */
static void on_dropped(void *arg, int status, const lc_msg_t *r) {
    op_t *o = arg;
    lc_conn_t *c = o->c;
    if (!lc_conn_answer_lost(c, status, r, LC_MSG_REPLY,
                             "coupon_drop %.*s: no answer from storage, it may have happened: watch the room or "
                             "send it again",
                             o->idn, o->id)) {
        if (lc_str_eq(r->status, "exists"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "coupon %.*s exists in this room", o->idn, o->id);
        else if (lc_str_eq(r->status, "too_many"))
            lc_conn_send_error(c, LC_ERR_BAD_REQUEST,
                               "at most %d coupons may be claimable (%d live) in a room: wait for one to end",
                               LC_STORE_MAX_OPEN_COUPONS, LC_STORE_MAX_LIVE_COUPONS);
    }
    op_free(o);
}

static void drop_coupon(lc_conn_t *c, const lc_msg_t *m) {
    if (c->role != LC_ROLE_STREAMER) {
        lc_conn_send_error(c, LC_ERR_FORBIDDEN, "only the streamer drops coupons");
        return;
    }
    if (lc_msg_has(m, off) == lc_msg_has(m, pct)) {
        lc_conn_send_error(c, LC_ERR_BAD_REQUEST, "coupon_drop needs exactly one of off and pct");
        return;
    }
    lc_store_coupon_drop_req_t req = {
        .room = lc_room_name(c->room), .coupon = m->coupon, .title = m->title,
        .off = lc_msg_has(m, off) ? m->off : 0, .pct = lc_msg_has(m, pct) ? m->pct : 0, .quota = m->quota,
        .per_user = lc_msg_has(m, per_user) ? m->per_user : 1, .secs = m->secs,
        .sku = lc_msg_has(m, sku) ? m->sku : lc_str("", 0), .min_price = lc_msg_has(m, min_price) ? m->min_price : 0,
    };
    op_t *o = op_new(c, m->coupon, lc_str("", 0));
    if (!o || lc_store_coupon_drop(c->srv->store, &req, on_dropped, o) != 0) {
        if (o) op_free(o);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    }
}

static void on_mine(void *arg, int status, const lc_msg_t *r) {
    op_t *o = arg;
    /* a read: a lost answer is just "ask again" */
    if (!lc_conn_answer_lost(o->c, status, r, LC_MSG_MY_COUPONS, "coupons: no answer from storage, ask again"))
        lc_conn_send_msg(o->c, r);
    op_free(o);
}

static void my_coupons(lc_conn_t *c) {
    if (!lc_conn_take_read(c)) { /* a script per ask: the reads' bucket */
        lc_conn_send_error(c, LC_ERR_RATE_LIMITED, "coupons: too many requests, slow down");
        lc_conn_limited(c);
        return;
    }
    op_t *o = op_new(c, lc_str("", 0), lc_str("", 0));
    if (!o || lc_store_coupons_of(c->srv->store, lc_room_name(c->room), lc_str(c->user, c->ulen), on_mine, o) != 0) {
        if (o) op_free(o);
        lc_conn_send_error(c, LC_ERR_UNAVAILABLE, "storage unavailable, retry later");
    }
}

void lc__coupon_on_message(lc_conn_t *c, const lc_msg_t *m) {
    switch (m->type) {
    case LC_MSG_COUPON_DROP: drop_coupon(c, m); break;
    case LC_MSG_COUPON_CLAIM: claim(c, m); break;
    case LC_MSG_COUPONS: my_coupons(c); break;
    default: break;
    }
}
