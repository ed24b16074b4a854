/*
 * The store's checkout and coupon commands (checkout.lua, coupon.lua): an
 * order's life after its buy (cancel, paid, the deadline sweep, its state)
 * and coupon drops (drop, claim, publish, close, the caller's coupons). Each
 * script's header lists its KEYS and ARGV in the order used here.
 */
#include <string.h>

#include "scripts.h"
#include "store.h"
#include "store_args.h"
#include "store_cmd.h"

/* checkout.lua: KEYS orderidx, paydue, orders; ARGV op, prefix, channel. */
static void checkout_head(lc__args_t *a, lc_str_t room, const char *op) {
    static const char *const keys[] = {"orderidx", "paydue", "orders"};
    lc__args_op_head(a, room, keys, 3, op);
}

int lc_store_cancel(lc_store_t *s, const lc_store_cancel_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    checkout_head(&a, r->room, "cancel");
    lc__args_str(&a, r->user);
    lc__args_str(&a, r->order);
    lc__args_int(&a, r->window_ms);
    lc__args_cstr(&a, r->shard);
    return lc__send_msg(s, r->room, LC_SCRIPT_CHECKOUT, &a, LC_MSG_CANCELLED, 1, cb, arg);
}

int lc_store_order_paid(lc_store_t *s, lc_str_t room, lc_str_t order, const char *shard, lc_store_msg_cb *cb,
                        void *arg) {
    lc__args_t a;
    checkout_head(&a, room, "paid");
    lc__args_str(&a, order);
    lc__args_cstr(&a, shard);
    return lc__send_msg(s, room, LC_SCRIPT_CHECKOUT, &a, LC_MSG_REPLY, 1, cb, arg);
}

int lc_store_order_get(lc_store_t *s, lc_str_t room, lc_str_t order, const char *shard, lc_store_msg_cb *cb,
                       void *arg) {
    lc__args_t a;
    checkout_head(&a, room, "order");
    lc__args_str(&a, order);
    lc__args_cstr(&a, shard);
    return lc__send_msg(s, room, LC_SCRIPT_CHECKOUT, &a, LC_MSG_ORDER_STATE, 0, cb, arg);
}

int lc_store_order_sweep(lc_store_t *s, lc_str_t room, const char *shard, unsigned most, lc_store_msg_cb *cb,
                         void *arg) {
    lc__args_t a;
    checkout_head(&a, room, "sweep");
    lc__args_cstr(&a, shard);
    lc__args_int(&a, most);
    return lc__send_msg(s, room, LC_SCRIPT_CHECKOUT, &a, LC_MSG_REPLY, 0, cb, arg);
}

/* coupon.lua: KEYS coupons, couponids, reqs; ARGV op, prefix, channel. */
static void coupon_head(lc__args_t *a, lc_str_t room, const char *op) {
    static const char *const keys[] = {"coupons", "couponids", "reqs"};
    lc__args_op_head(a, room, keys, 3, op);
}

int lc_store_coupon_drop(lc_store_t *s, const lc_store_coupon_drop_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    coupon_head(&a, r->room, "drop");
    lc__args_str(&a, r->coupon);
    lc__args_str(&a, r->title);
    lc__args_int(&a, r->off);
    lc__args_int(&a, r->off ? 0 : r->pct);
    lc__args_int(&a, r->quota);
    lc__args_int(&a, r->per_user);
    lc__args_int(&a, r->secs);
    lc__args_str(&a, r->sku);
    lc__args_int(&a, r->min_price);
    lc__args_int(&a, LC_STORE_MAX_OPEN_COUPONS);
    lc__args_int(&a, LC_STORE_MAX_LIVE_COUPONS);
    return lc__send_msg(s, r->room, LC_SCRIPT_COUPON, &a, LC_MSG_REPLY, 0, cb, arg);
}

int lc_store_coupon_claim(lc_store_t *s, const lc_store_claim_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    coupon_head(&a, r->room, "claim");
    lc__args_str(&a, r->user);
    lc__args_str(&a, r->req);
    lc__args_str(&a, r->coupon);
    lc__args_int(&a, r->req_ttl_s);
    return lc__send_msg(s, r->room, LC_SCRIPT_COUPON, &a, LC_MSG_CLAIM, 1, cb, arg);
}

int lc_store_coupon_publish(lc_store_t *s, lc_str_t room, lc_str_t coupon, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    coupon_head(&a, room, "pub");
    lc__args_str(&a, coupon);
    return lc__send_msg(s, room, LC_SCRIPT_COUPON, &a, LC_MSG_REPLY, 0, cb, arg);
}

int lc_store_coupon_close(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    coupon_head(&a, room, "close");
    return lc__send_msg(s, room, LC_SCRIPT_COUPON, &a, LC_MSG_REPLY, 0, cb, arg);
}

int lc_store_coupons_of(lc_store_t *s, lc_str_t room, lc_str_t user, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    coupon_head(&a, room, "mine");
    lc__args_str(&a, user);
    return lc__send_msg(s, room, LC_SCRIPT_COUPON, &a, LC_MSG_MY_COUPONS, 0, cb, arg);
}
