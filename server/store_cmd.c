/*
 * The typed commands of the store: each builds its keys and arguments with
 * the one builder (lc__args_t, store_args.h) and makes one generic call
 * (lc__call_send, store_call.h), routed by its room's slot. Key names are PROTOCOL.md's "Redis layout";
 * each script's header lists its KEYS and ARGV in the order used here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scripts.h"
#include "store.h"
#include "store_args.h"
#include "store_call.h"
#include "store_cmd.h"

/* ---- the calls ---- */

#define NOSUB lc_str("", 0)

int lc__send_msg(lc_store_t *s, lc_str_t room, int script, lc__args_t *a, lc_msg_type_t expect, int durable,
                 lc_store_msg_cb *cb, void *arg) {
    lc__call_t c = {.room = room, .script = script, .args = a, .reply = LC__REPLY_MSG, .expect = expect,
                    .cb.msg = cb, .arg = arg, .durable = durable};
    int rc = lc__call_send(s, &c);
    lc__args_free(a);
    return rc;
}

/* Sends a script call answering one message of type expect; frees a. */
static int send_msg(lc_store_t *s, lc_str_t room, int script, lc__args_t *a, lc_msg_type_t expect,
                    lc_store_msg_cb *cb, void *arg) {
    /* what a buyer is told "ok" about -- an order, a team's orders -- waits
     * for the replicas (--ack-replicas) before it is told */
    int durable = expect == LC_MSG_ORDER || expect == LC_MSG_GROUP;
    return lc__send_msg(s, room, script, a, expect, durable, cb, arg);
}

static int send_int(lc_store_t *s, lc_str_t room, int script, lc__args_t *a, lc_store_int_cb *cb, void *arg) {
    lc__call_t c = {.room = room, .script = script, .args = a, .reply = LC__REPLY_INT, .cb.num = cb, .arg = arg};
    int rc = lc__call_send(s, &c);
    lc__args_free(a);
    return rc;
}

int lc_store_join(lc_store_t *s, const lc_store_join_req_t *r, lc_store_msg_cb *cb, void *arg) {
    static const char *const keys[] = {"chat", "likes", "vshare", "vexp", "sales", "bans", "slow", "paydue",
                                       "coupons", "lot", "top:likes", "top:buyers", "uv"};
    lc__args_t a;
    lc__args_init(&a);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) lc__args_key(&a, r->room, keys[i], NOSUB);
    lc__args_cstr(&a, r->shard);
    lc__args_int(&a, r->count);
    lc__args_str(&a, r->since);
    lc__args_int(&a, r->cap);
    /* the joiners go in ARGV: one request per batch whatever its size */
    for (size_t i = 0; i < r->nusers; i++) lc__args_str(&a, r->users[i]);
    return send_msg(s, r->room, LC_SCRIPT_JOIN, &a, LC_MSG_ROOM_STATE, cb, arg);
}

int lc_store_comment(lc_store_t *s, const lc_store_comment_req_t *r, lc_store_msg_cb *cb, void *arg) {
    static const char *const keys[] = {"chat", "bans", "mutes", "slow", "lastc", "creqs", "lot", "engaged", "series"};
    lc__args_t a;
    lc__args_init(&a);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) lc__args_key(&a, r->room, keys[i], NOSUB);
    lc__args_rname(&a, r->room, "ch");
    lc__args_str(&a, r->user);
    lc__args_str(&a, r->text);
    lc__args_int(&a, r->cap);
    lc__args_cstr(&a, r->exempt ? "1" : "0");
    lc__args_str(&a, r->req);
    lc__args_int(&a, r->req_ttl_s);
    return send_msg(s, r->room, LC_SCRIPT_COMMENT, &a, LC_MSG_REPLY, cb, arg);
}

int lc_store_post(lc_store_t *s, const lc_store_post_req_t *r, lc_store_msg_cb *cb, void *arg) {
    if (r->type != LC_MSG_ANNOUNCE && r->type != LC_MSG_PRODUCT) return -1;
    lc__args_t a;
    lc__args_init(&a);
    lc__args_key(&a, r->room, "chat", NOSUB);
    lc__args_key(&a, r->room, "posts", NOSUB);
    lc__args_rname(&a, r->room, "ch");
    lc__args_int(&a, r->cap);
    lc__args_str(&a, r->key);
    lc__args_int(&a, r->key_ttl_s);
    /* From here on the arguments are the body whose digest the key
     * remembers: keep their form (the price in decimal) as it is. */
    if (r->type == LC_MSG_ANNOUNCE) {
        lc__args_cstr(&a, "announce");
        lc__args_str(&a, r->text);
    } else {
        lc__args_cstr(&a, "product");
        lc__args_str(&a, r->sku);
        lc__args_str(&a, r->title);
        lc__args_int(&a, r->price);
    }
    return send_msg(s, r->room, LC_SCRIPT_POST, &a, LC_MSG_REPLY, cb, arg);
}

int lc_store_likes(lc_store_t *s, const lc_store_likes_req_t *r, lc_store_int_cb *cb, void *arg) {
    lc__args_t a;
    lc__args_init(&a);
    lc__args_key(&a, r->room, "likes", NOSUB);
    lc__args_key(&a, r->room, "likeseq", NOSUB);
    lc__args_key(&a, r->room, "top:likes", NOSUB);
    lc__args_key(&a, r->room, "engaged", NOSUB);
    lc__args_key(&a, r->room, "series", NOSUB);
    lc__args_rname(&a, r->room, "ch");
    lc__args_cstr(&a, r->shard);
    lc__args_cstr(&a, r->boot);
    char seq[24];
    snprintf(seq, sizeof(seq), "%" PRIu64, r->seq);
    lc__args_cstr(&a, seq);
    lc__args_int(&a, r->count);
    for (size_t i = 0; i < r->nlikers; i++) { /* pairs: user, likes */
        lc__args_str(&a, lc_str(r->likers[i].user, r->likers[i].ulen));
        lc__args_int(&a, r->likers[i].n);
    }
    return send_int(s, r->room, LC_SCRIPT_LIKES, &a, cb, arg);
}

int lc_store_viewers(lc_store_t *s, const lc_store_viewers_req_t *r, lc_store_int_cb *cb, void *arg) {
    lc__args_t a;
    lc__args_init(&a);
    lc__args_key(&a, r->room, "vshare", NOSUB);
    lc__args_key(&a, r->room, "vexp", NOSUB);
    lc__args_key(&a, r->room, "viewers", NOSUB);
    lc__args_key(&a, r->room, "funnel", NOSUB);
    lc__args_key(&a, r->room, "series", NOSUB);
    lc__args_rname(&a, r->room, "ch");
    lc__args_cstr(&a, r->shard);
    lc__args_int(&a, r->count);
    lc__args_int(&a, r->ttl_ms);
    return send_int(s, r->room, LC_SCRIPT_VIEWERS, &a, cb, arg);
}

int lc_store_moderate(lc_store_t *s, const lc_store_moderate_req_t *r, lc_store_msg_cb *cb, void *arg) {
    static const char *const ops[] = {[LC_MOD_MUTE] = "mute", [LC_MOD_BAN] = "ban", [LC_MOD_UNBAN] = "unban",
                                      [LC_MOD_DELETE] = "delete", [LC_MOD_SLOW] = "slow"};
    if ((unsigned)r->op >= sizeof(ops) / sizeof(ops[0])) return -1;
    lc__args_t a;
    lc__args_init(&a);
    lc__args_key(&a, r->room, "bans", NOSUB);
    lc__args_key(&a, r->room, "mutes", NOSUB);
    lc__args_key(&a, r->room, "slow", NOSUB);
    lc__args_key(&a, r->room, "chat", NOSUB);
    lc__args_cstr(&a, ops[r->op]);
    lc__args_rname(&a, r->room, "ch");
    switch (r->op) {
    case LC_MOD_MUTE:
        lc__args_str(&a, r->user);
        lc__args_int(&a, r->secs);
        break;
    case LC_MOD_BAN:
    case LC_MOD_UNBAN: lc__args_str(&a, r->user); break;
    case LC_MOD_DELETE: lc__args_str(&a, r->id); break;
    case LC_MOD_SLOW: lc__args_int(&a, r->secs); break;
    }
    return send_msg(s, r->room, LC_SCRIPT_MODERATE, &a, LC_MSG_REPLY, cb, arg);
}

int lc_store_buy(lc_store_t *s, const lc_store_buy_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    lc__args_init(&a);
    lc__args_key(&a, r->room, "sale:", r->sku);
    lc__args_key(&a, r->room, "bought:", r->sku);
    lc__args_key(&a, r->room, "reqs", NOSUB);
    lc__args_key(&a, r->room, "orders", NOSUB);
    lc__args_key(&a, r->room, "orderidx", NOSUB);
    lc__args_key(&a, r->room, "ipunits:", r->sku);
    lc__args_key(&a, r->room, "ipusers:", r->sku);
    lc__args_key(&a, r->room, "audit", NOSUB);
    lc__args_key(&a, r->room, "coupon:", r->coupon);
    lc__args_key(&a, r->room, "cclaim:", r->coupon);
    lc__args_key(&a, r->room, "cused:", r->coupon);
    lc__args_key(&a, r->room, "paydue", NOSUB);
    lc__args_key(&a, r->room, "top:buyers", NOSUB);
    lc__args_key(&a, r->room, "recent", NOSUB);
    lc__args_str(&a, r->user);
    lc__args_str(&a, r->req);
    lc__args_str(&a, r->sku);
    lc__args_int(&a, r->qty);
    lc__args_cstr(&a, r->shard);
    lc__args_int(&a, r->req_ttl_s);
    lc__args_str(&a, r->ip);
    lc__args_int(&a, r->ip_cap);
    lc__args_int(&a, r->fast_ms);
    lc__args_int(&a, r->ip_users);
    lc__args_str(&a, r->coupon);
    lc__args_rname(&a, r->room, "ch");
    return send_msg(s, r->room, LC_SCRIPT_BUY, &a, LC_MSG_ORDER, cb, arg);
}

/* commerce.lua: KEYS[1] the sale index; ARGV op, prefix, channel, then the op's. */
static void commerce_head(lc__args_t *a, lc_str_t room, const char *op) {
    static const char *const keys[] = {"sales"};
    lc__args_op_head(a, room, keys, 1, op);
}

int lc_store_sale_open(lc_store_t *s, const lc_store_sale_open_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    commerce_head(&a, r->room, "open");
    lc__args_str(&a, r->sku);
    lc__args_cstr(&a, r->group ? "group" : "sale");
    lc__args_str(&a, r->title);
    lc__args_int(&a, r->price);
    lc__args_int(&a, r->stock);
    lc__args_int(&a, r->limit);
    lc__args_int(&a, r->group ? r->size : 0);
    lc__args_int(&a, r->group ? r->ttl_s : 0);
    lc__args_int(&a, LC_STORE_MAX_OPEN_SALES);
    lc__args_int(&a, r->group ? 0 : r->pay_s);
    return send_msg(s, r->room, LC_SCRIPT_COMMERCE, &a, LC_MSG_REPLY, cb, arg);
}

int lc_store_sale_close(lc_store_t *s, lc_str_t room, lc_str_t sku, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    commerce_head(&a, room, "close");
    lc__args_str(&a, sku);
    return send_msg(s, room, LC_SCRIPT_COMMERCE, &a, LC_MSG_REPLY, cb, arg);
}

int lc_store_group_join(lc_store_t *s, const lc_store_group_join_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    commerce_head(&a, r->room, "join");
    lc__args_str(&a, r->user);
    lc__args_str(&a, r->req);
    lc__args_str(&a, r->sku);
    lc__args_str(&a, r->team);
    lc__args_cstr(&a, r->shard);
    lc__args_int(&a, r->req_ttl_s);
    return send_msg(s, r->room, LC_SCRIPT_COMMERCE, &a, LC_MSG_GROUP, cb, arg);
}

int lc_store_sale_expire(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    commerce_head(&a, room, "expire");
    return send_msg(s, room, LC_SCRIPT_COMMERCE, &a, LC_MSG_REPLY, cb, arg);
}

int lc_store_sale_publish(lc_store_t *s, lc_str_t room, lc_str_t sku, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    commerce_head(&a, room, "pub");
    lc__args_str(&a, sku);
    return send_msg(s, room, LC_SCRIPT_COMMERCE, &a, LC_MSG_REPLY, cb, arg);
}

void lc_store_note_sale_room(lc_store_t *s, lc_str_t room) {
    lc__args_t a;
    lc__args_init(&a);
    lc__args_cstr(&a, "SADD");
    lc__args_gkey(&a, "lc:sale-rooms");
    lc__args_str(&a, room);
    /* outside the room's slot: routed by its own key */
    lc__call_t c = {.room = lc_str("", 0), .script = LC__NO_SCRIPT, .args = &a, .reply = LC__REPLY_NONE};
    (void)lc__call_send(s, &c); /* fire and forget: a lost one is added by the next sale */
    lc__args_free(&a);
}
