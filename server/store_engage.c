/*
 * The store's lucky-bag, leaderboard and funnel commands (lottery.lua,
 * board.lua, stats.lua).
 * Each script's header lists its KEYS and ARGV in the order used here.
 */
#include "scripts.h"
#include "store.h"
#include "store_args.h"
#include "store_cmd.h"

/* lottery.lua: KEYS lot, lots, bans, mutes; ARGV op, prefix, channel. */
static void lottery_head(lc__args_t *a, lc_str_t room, const char *op) {
    static const char *const keys[] = {"lot", "lots", "bans", "mutes"};
    lc__args_op_head(a, room, keys, 4, op);
}

int lc_store_lottery_open(lc_store_t *s, const lc_store_lottery_open_req_t *r, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    lottery_head(&a, r->room, "open");
    lc__args_str(&a, r->lottery);
    lc__args_str(&a, r->prize);
    lc__args_int(&a, r->winners);
    lc__args_int(&a, r->secs);
    lc__args_str(&a, r->keyword);
    lc__args_cstr(&a, r->seed_hex);
    lc__args_cstr(&a, r->commit_hex);
    return lc__send_msg(s, r->room, LC_SCRIPT_LOTTERY, &a, LC_MSG_REPLY, 0, cb, arg);
}

int lc_store_lottery_enter(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_str_t user, lc_store_msg_cb *cb,
                           void *arg) {
    lc__args_t a;
    lottery_head(&a, room, "enter");
    lc__args_str(&a, user);
    lc__args_str(&a, lottery);
    return lc__send_msg(s, room, LC_SCRIPT_LOTTERY, &a, LC_MSG_ENTER, 0, cb, arg);
}

int lc_store_lottery_draw(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    lottery_head(&a, room, "draw");
    lc__args_str(&a, lottery);
    /* two answers (a result, or a reply): the caller checks the type */
    return lc__send_msg(s, room, LC_SCRIPT_LOTTERY, &a, LC_MSG_NONE, 0, cb, arg);
}

int lc_store_lottery_record(lc_store_t *s, lc_str_t room, lc_str_t lottery, const uint64_t *pos, size_t k,
                            lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    lottery_head(&a, room, "record");
    lc__args_str(&a, lottery);
    for (size_t i = 0; i < k; i++) lc__args_int(&a, (int64_t)pos[i]);
    /* two answers (a result, or a reply): the caller checks the type */
    return lc__send_msg(s, room, LC_SCRIPT_LOTTERY, &a, LC_MSG_NONE, 0, cb, arg);
}

int lc_store_lottery_get(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_store_msg_cb *cb, void *arg) {
    lc__args_t a;
    lottery_head(&a, room, "get");
    lc__args_str(&a, lottery);
    return lc__send_msg(s, room, LC_SCRIPT_LOTTERY, &a, LC_MSG_LOTTERY_STATE, 0, cb, arg);
}

int lc_store_boards_publish(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg) {
    static const char *const keys[] = {"boards", "top:likes", "top:buyers", "recent"};
    lc__args_t a;
    lc__args_init(&a);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) lc__args_key(&a, room, keys[i], lc_str("", 0));
    lc__args_rname(&a, room, "ch");
    return lc__send_msg(s, room, LC_SCRIPT_BOARD, &a, LC_MSG_REPLY, 0, cb, arg);
}

int lc_store_funnel(lc_store_t *s, const lc_store_funnel_req_t *r, lc_store_msg_cb *cb, void *arg) {
    static const char *const keys[] = {"funnel",  "fbuyers", "uv",       "engaged", "series",
                                       "vshare",  "vexp",    "reporter", "orders"};
    lc__args_t a;
    lc__args_init(&a);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) lc__args_key(&a, r->room, keys[i], lc_str("", 0));
    lc__args_cstr(&a, r->shard ? r->shard : "");
    lc__args_int(&a, r->lease_ms);
    lc__args_cstr(&a, r->series ? "1" : "0");
    return lc__send_msg(s, r->room, LC_SCRIPT_STATS, &a, LC_MSG_STATS, 0, cb, arg);
}
