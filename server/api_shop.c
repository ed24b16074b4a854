/*
 * The shop's side of checkout and coupons on the publish API: an order's
 * state, its payment, a coupon drop; a lottery for audit; and the open-mode
 * demo shop. See api_shop.h and PROTOCOL.md ("Checkout", "Coupon drops",
 * "Lucky bag").
 *
 * A payment is a durable write, answered like a post: 503 when nothing was
 * sent (retry), 504 when it may have happened (retry: paying twice answers
 * 200 again), never "failed" about something that happened.
 */
#include <stdio.h>
#include <string.h>

#include "api_shop.h"
#include "store.h"

static lc_str_t room_of(const lc_api_req_t *r) { return lc_str(r->room, r->rn); }
static lc_str_t order_of(const lc_api_req_t *r) { return lc_str(r->order, r->on); }

/* ---- GET /api/rooms/ROOM/orders/ORDER ---- */

static int set_int(json_t *o, const char *k, int has, int64_t v) {
    return has ? json_object_set_new(o, k, json_integer(v)) : 0;
}

static json_t *order_json(const lc_msg_t *st) {
    json_t *o = json_pack("{s:s%,s:s%,s:s%,s:I,s:s%,s:I}", "order", st->order.p, st->order.n, "user", st->user.p,
                          st->user.n, "sku", st->sku.p, st->sku.n, "qty", (json_int_t)st->qty, "state", st->status.p,
                          st->status.n, "ts", (json_int_t)st->ts);
    if (!o || set_int(o, "price", lc_msg_has(st, price), st->price) ||
        set_int(o, "pay_by", lc_msg_has(st, pay_by), st->pay_by) ||
        set_int(o, "paid_ts", lc_msg_has(st, paid_ts), st->paid_ts) ||
        set_int(o, "list_price", lc_msg_has(st, list_price), st->list_price) ||
        (lc_msg_has(st, coupon) && json_object_set_new(o, "coupon", json_stringn(st->coupon.p, st->coupon.n)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static void on_order(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    lc_api_req_t *r = lc__api_read_answer(q, rc, reply, LC_MSG_ORDER_STATE);
    if (!r) return;
    if (lc_str_eq(reply->status, "not_found") || !lc_msg_has(reply, user)) {
        lc__api_fail(r->srv, q, 404);
        return;
    }
    lc__api_json(r->srv, q, 200, order_json(reply));
}

void lc__api_order_get(lc_api_req_t *r, lc_http_req_t *q) {
    if (lc_http_defer(q) != 0 ||
        lc_store_order_get(r->srv->store, room_of(r), order_of(r), r->srv->cfg.shard, on_order, q) != 0)
        lc__api_fail(r->srv, q, 503);
}

/* ---- POST /api/rooms/ROOM/orders/ORDER/paid ---- */

static void answer_paid(lc_api_req_t *r, lc_http_req_t *q, unsigned status, lc_str_t st) {
    json_t *o = json_pack("{s:s%,s:s%}", "order", r->order, r->on, "status", st.p, st.n);
    lc__api_json(r->srv, q, status, o);
}

static void on_paid(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    lc_api_req_t *r = lc__api_answerable(q);
    if (!r) return;
    lc_server_t *srv = r->srv;
    if (rc != LC_STORE_OK || reply->type != LC_MSG_REPLY) {
        srv->m.redis_failures++;
        lc__api_fail(srv, q, rc == LC_STORE_REFUSED ? 503 : 504); /* 504: it may be paid: send it again */
        return;
    }
    lc_str_t st = reply->status;
    if (lc_str_eq(st, "not_found")) {
        lc__api_fail(srv, q, 404);
        return;
    }
    if (lc_str_eq(st, "paid")) {
        /* counted once per order: a repeat answers without count (checkout.lua) */
        if (lc_msg_has(reply, count)) srv->m.reservations[LC_RES_PAID]++;
        answer_paid(r, q, 200, st);
        return;
    }
    if (lc_str_eq(st, "expired") && lc_msg_has(reply, count)) srv->m.reservations[LC_RES_EXPIRED]++;
    answer_paid(r, q, 409, st);
}

void lc__api_order_paid(lc_api_req_t *r, lc_http_req_t *q) {
    if (lc_http_defer(q) != 0 ||
        lc_store_order_paid(r->srv->store, room_of(r), order_of(r), r->srv->cfg.shard, on_paid, q) != 0)
        lc__api_fail(r->srv, q, 503);
}

/* ---- POST /api/rooms/ROOM/messages {"type":"coupon_drop", ...} ---- */

/* An integer member in lo..hi: 1 (set), 0 (absent), -1 (wrong). */
static int int_in(json_t *j, const char *k, int64_t lo, int64_t hi, int64_t *out) {
    json_t *v = json_object_get(j, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return -1;
    *out = json_integer_value(v);
    return 1;
}

static int ident_in(json_t *j, const char *k, lc_str_t *out) {
    json_t *v = json_object_get(j, k);
    if (!v) return 0;
    size_t n = json_string_length(v);
    if (!json_is_string(v) || !lc_ident_valid(json_string_value(v), n)) return -1;
    *out = lc_str(json_string_value(v), n);
    return 1;
}

static const char *parse_drop(json_t *j, lc_store_coupon_drop_req_t *d) {
    json_t *t = json_object_get(j, "title");
    size_t tn = json_string_length(t);
    if (ident_in(j, "coupon", &d->coupon) != 1) return "coupon_drop needs coupon, 1-64 of [A-Za-z0-9_-]";
    if (!json_is_string(t) || tn < 1 || tn > 200) return "coupon_drop needs title, 1-200 bytes";
    d->title = lc_str(json_string_value(t), tn);
    int off = int_in(j, "off", 1, 1000000000000LL, &d->off), pct = int_in(j, "pct", 1, 90, &d->pct);
    if (off < 0 || pct < 0 || off + pct != 1) return "coupon_drop needs exactly one of off (cents > 0) and pct (1-90)";
    if (int_in(j, "quota", 1, 1000000, &d->quota) != 1) return "coupon_drop needs quota, 1-1000000";
    if (int_in(j, "secs", 5, 3600, &d->secs) != 1) return "coupon_drop needs secs, 5-3600";
    d->per_user = 1;
    if (int_in(j, "per_user", 1, 100, &d->per_user) < 0) return "per_user must be 1-100";
    if (ident_in(j, "sku", &d->sku) < 0) return "sku must be 1-64 of [A-Za-z0-9_-]";
    if (int_in(j, "min_price", 0, 1000000000000LL, &d->min_price) < 0) return "min_price must be cents >= 0";
    return NULL;
}

static void on_dropped(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    lc_api_req_t *r = lc__api_answerable(q);
    if (!r) return;
    lc_server_t *srv = r->srv;
    if (rc != LC_STORE_OK || reply->type != LC_MSG_REPLY) {
        srv->m.redis_failures++;
        lc__api_fail(srv, q, rc == LC_STORE_REFUSED ? 503 : 504); /* 504: send it again: 409 exists if it was */
    } else if (lc_str_eq(reply->status, "exists")) {
        lc__api_fail_with(srv, q, 409, "a coupon with this id is live in the room", NULL);
    } else if (lc_str_eq(reply->status, "too_many")) {
        lc__api_fail_with(srv, q, 409, "too many coupons claimable or live in the room", NULL);
    } else {
        lc__api_json(srv, q, 202, json_pack("{s:s%}", "coupon", r->key, strlen(r->key)));
    }
}

const char *lc__api_coupon_drop(lc_api_req_t *r, lc_http_req_t *q, json_t *body) {
    lc_store_coupon_drop_req_t d = {.room = room_of(r), .sku = lc_str("", 0)};
    const char *why = parse_drop(body, &d);
    if (why) return why;
    /* the answer names the coupon: keep its id (the Idempotency-Key is not
     * used by drops: a coupon id is its own key) */
    snprintf(r->key, sizeof(r->key), "%.*s", (int)d.coupon.n, d.coupon.p);
    if (lc_http_defer(q) != 0 || lc_store_coupon_drop(r->srv->store, &d, on_dropped, q) != 0)
        lc__api_fail(r->srv, q, 503);
    return NULL;
}

/* ---- GET /api/rooms/ROOM/lotteries/ID ---- */

static json_t *strs_json(const lc_strs_t *l) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, json_stringn(l->items[i].p, l->items[i].n)) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static json_t *lottery_json(const lc_msg_t *st) {
    int drawn = lc_str_eq(st->status, "drawn");
    json_t *o = json_pack("{s:s%,s:s%,s:I,s:I,s:s%,s:s%,s:I}", "lottery", st->lottery.p, st->lottery.n, "prize",
                          st->prize.p, st->prize.n, drawn ? "k" : "winners", (json_int_t)st->count, "ends",
                          (json_int_t)st->ends, "commit", st->commit.p, st->commit.n, "state", st->status.p,
                          st->status.n, "entries", (json_int_t)st->entry_count);
    if (o && lc_msg_has(st, keyword) && json_object_set_new(o, "keyword", json_stringn(st->keyword.p, st->keyword.n)))
        goto fail;
    if (o && lc_msg_has(st, seed) && json_object_set_new(o, "seed", json_stringn(st->seed.p, st->seed.n)))
        goto fail; /* from the close on: the entrants are fixed */
    if (o && drawn &&
        (json_object_set_new(o, "winners", strs_json(&st->winner_list)) ||
         json_object_set_new(o, "entrants", strs_json(&st->users))))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

static void on_lottery(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    lc_api_req_t *r = lc__api_read_answer(q, rc, reply, LC_MSG_LOTTERY_STATE);
    if (!r) return;
    if (lc_str_eq(reply->status, "none") || !lc_msg_has(reply, commit)) {
        lc__api_fail(r->srv, q, 404);
    } else {
        lc__api_json(r->srv, q, 200, lottery_json(reply));
    }
}

void lc__api_lottery_get(lc_api_req_t *r, lc_http_req_t *q) {
    if (lc_http_defer(q) != 0 ||
        lc_store_lottery_get(r->srv->store, room_of(r), lc_str(r->order, r->on), on_lottery, q) != 0)
        lc__api_fail(r->srv, q, 503);
}
