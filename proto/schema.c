/*
 * The one schema of the livecart protocol. PROTOCOL.md documents the same
 * tables for humans; a change here is a protocol change: update both.
 */
#include <stddef.h>
#include <string.h>

#include "proto_int.h"

#define C2S LC_DIR_C2S
#define S2C LC_DIR_S2C
#define BOTH (LC_DIR_C2S | LC_DIR_S2C)
#define BUS LC_DIR_BUS
#define NOMAX INT64_MAX

const lc__field_desc_t lc__fields[LC_F__COUNT] = {
#define X(name, kind) {#name, sizeof(#name) - 1, LC__K_##kind, offsetof(lc_msg_t, name)},
    LC_FIELDS(X)
#undef X
#define X(name, key, kind) {key, sizeof(key) - 1, LC__K_##kind, offsetof(lc_msg_t, name)},
    LC_FIELDS_AS(X)
#undef X
};

static const char *const roles[] = {"viewer", "streamer", "moderator", NULL};

/* Rule shorthands: key, who may send it, who must, min, max. */
#define R(f, d, q, lo, hi) {LC_F_##f, d, q, lo, hi, LC__CHK_NONE, NULL, LC_MSG_NONE, 0}
#define RSID(f, d, q) {LC_F_##f, d, q, 3, 41, LC__CHK_SID, NULL, LC_MSG_NONE, 0}
#define RID(f, d, q) {LC_F_##f, d, q, 1, 64, LC__CHK_IDENT, NULL, LC_MSG_NONE, 0}
#define BIG INT64_C(1000000000000)     /* 10^12: prices in cents, stock */

static const lc__rule_t hello_rules[] = {
    R(user, C2S, 0, 1, 64), /* required in open mode; with tokens the token names the user */
    {LC_F_role, C2S, 0, 1, 16, LC__CHK_ONEOF, roles, LC_MSG_NONE, 0},
    R(token, C2S, 0, 1, 4096),
    RSID(since, C2S, 0),
};
static const lc__rule_t welcome_rules[] = {
    R(room, S2C, S2C, 1, 64),
    R(shard, S2C, S2C, 1, 128),
    R(viewers, S2C, S2C, 0, NOMAX),
    R(likes, S2C, S2C, 0, NOMAX),
    RSID(last, S2C, S2C),
    /* comments and the shop's announce/product posts, in stream order */
    {LC_F_history, S2C, S2C, 0, 100000, LC__CHK_NONE, NULL, LC_MSG_NONE, 0},
    R(recovered, S2C, 0, 0, 1),
    {LC_F_sales, S2C, 0, 0, 1000, LC__CHK_NONE, NULL, LC_MSG_NONE, 0},
    {LC_F_coupons, S2C, 0, 0, 1000, LC__CHK_NONE, NULL, LC_MSG_COUPON, 0},
    {LC_F_lotteries, S2C, 0, 0, 1, LC__CHK_NONE, NULL, LC_MSG_LOTTERY, 0},
    {LC_F_tops, S2C, 0, 0, 2, LC__CHK_NONE, NULL, LC_MSG_TOP, 0},
};
static const lc__rule_t comment_rules[] = {
    RSID(id, S2C, S2C),
    R(user, S2C, S2C, 1, 64),
    R(text, BOTH, BOTH, 1, 500),
    R(ts, S2C, S2C, 0, NOMAX),
    R(req, C2S, 0, 1, 64),
};
static const lc__rule_t like_rules[] = {R(count, C2S, C2S, 1, 100)};
static const lc__rule_t likes_rules[] = {R(total, S2C, S2C, 0, NOMAX)};
static const lc__rule_t viewers_rules[] = {R(count, S2C, S2C, 0, NOMAX)};
static const lc__rule_t gap_rules[] = {RSID(last, S2C, S2C)};
static const lc__rule_t error_rules[] = {
    R(code, S2C, S2C, 1, 64),
    R(message, S2C, S2C, 0, 1024),
};

/* ---- commerce (PROTOCOL.md, "Flash sale" and "Group-buy") ---- */
static const lc__rule_t sale_open_rules[] = {
    RID(sku, C2S, C2S), R(title, C2S, C2S, 1, 200), R(price, C2S, C2S, 0, BIG),
    R(stock, C2S, C2S, 1, 1000000000), R(limit, C2S, 0, 1, 1000000000), R(pay_s, C2S, 0, 30, 3600),
};
static const lc__rule_t sku_rules[] = {RID(sku, BOTH, BOTH)};
/* buy: range problems of sku and qty are answered with order status
 * "invalid" (the reply carries req), so the schema only checks types. */
static const lc__rule_t buy_rules[] = {
    R(sku, C2S, C2S, 1, 64), R(qty, C2S, 0, INT64_MIN, INT64_MAX), R(req, C2S, C2S, 1, 64),
    R(coupon, C2S, 0, 1, 64),
    R(retry, C2S, 0, 0, 1), /* a re-send: always decided by Redis (PROTOCOL.md "Sold out at the shard") */
};
static const lc__rule_t cancel_rules[] = {RSID(order, C2S, C2S)};
static const lc__rule_t group_open_rules[] = {
    RID(sku, C2S, C2S), R(title, C2S, C2S, 1, 200), R(price, C2S, C2S, 0, BIG),
    R(size, C2S, C2S, 2, 100), R(stock, C2S, C2S, 1, 1000000000), R(ttl_s, C2S, C2S, 5, 86400),
};
static const lc__rule_t group_join_rules[] = {
    R(sku, C2S, C2S, 1, 64), R(req, C2S, C2S, 1, 64), R(team, C2S, 0, 1, 32),
};
static const lc__rule_t sale_rules[] = {
    RID(sku, S2C, S2C), R(title, S2C, S2C, 1, 200), R(price, S2C, S2C, 0, BIG),
    R(stock, S2C, S2C, 0, BIG), R(limit, S2C, S2C, 1, BIG), R(total, S2C, 0, 0, BIG),
    R(pay_s, S2C, 0, 30, 3600),
};
static const lc__rule_t group_sale_rules[] = {
    RID(sku, S2C, S2C), R(title, S2C, S2C, 1, 200), R(price, S2C, S2C, 0, BIG),
    R(size, S2C, S2C, 2, 100), R(stock, S2C, S2C, 0, BIG), R(ttl_s, S2C, S2C, 1, 86400),
    R(teams, S2C, 0, 0, BIG), R(total, S2C, 0, 0, BIG),
};
/* due (bus only): the room's earliest payment deadline, so every shard sweeps it on time */
static const lc__rule_t stock_rules[] = {RID(sku, S2C, S2C), R(left, S2C, S2C, 0, BIG), R(due, BUS, 0, 0, NOMAX)};
static const lc__rule_t order_rules[] = {
    R(req, S2C, S2C, 1, 64), R(sku, S2C, S2C, 0, 64), R(status, S2C, S2C, 1, 32),
    RSID(order, S2C, 0), R(qty, S2C, 0, INT64_MIN, INT64_MAX), R(left, S2C, 0, 0, BIG),
    R(pay_by, S2C, 0, 0, NOMAX), R(price, S2C, 0, 0, BIG), R(coupon, S2C, 0, 1, 64),
    R(count, BUS, 0, 1, 1), /* the script's first decision redeemed the coupon (not a replay): for the metrics */
};
static const lc__rule_t cancelled_rules[] = {
    RSID(order, S2C, S2C), R(status, S2C, S2C, 1, 32), R(sku, S2C, 0, 1, 64),
    R(qty, S2C, 0, 0, BIG), R(left, S2C, 0, 0, BIG),
    R(pay_by, S2C, 0, 0, NOMAX), R(coupon, S2C, 0, 1, 64), /* a reservation; the coupon given back */
};
static const lc__rule_t group_rules[] = {
    R(req, S2C, S2C, 1, 64), R(sku, S2C, S2C, 0, 64), R(status, S2C, S2C, 1, 32),
    R(team, S2C, 0, 0, 32), R(members, S2C, 0, 0, 100), R(size, S2C, 0, 0, 100),
    R(left, S2C, 0, 0, BIG),
};
static const lc__rule_t group_done_rules[] = {
    R(team, S2C, S2C, 1, 32), RID(sku, S2C, S2C), RSID(order, S2C, S2C),
};
static const lc__rule_t group_failed_rules[] = {R(team, S2C, S2C, 1, 32), RID(sku, S2C, S2C)};
static const lc__rule_t teams_rules[] = {
    RID(sku, S2C, S2C), R(teams, S2C, S2C, 0, BIG), R(waiting, S2C, S2C, 0, BIG),
};
static const lc__rule_t team_result_rules[] = {
    R(team, BUS, BUS, 1, 32), RID(sku, BUS, BUS),
    {LC_F_entries, BUS, BUS, 0, 100, LC__CHK_NONE, NULL, LC_MSG_MEMBER, 0},
};
static const lc__rule_t member_rules[] = {R(user, BUS | S2C, BUS | S2C, 1, 64), RSID(order, BUS, 0),
                                          R(score, BUS | S2C, 0, 0, NOMAX)}; /* a top entry: user, score */

/* ---- checkout and coupons (PROTOCOL.md, "Checkout" and "Coupon drops") ---- */
/* paid, expired: user travels on the bus only (each shard tells that user's connections) */
static const lc__rule_t order_event_rules[] = {
    RSID(order, S2C | BUS, S2C | BUS), R(sku, S2C | BUS, 0, 1, 64), R(qty, S2C | BUS, 0, 0, BIG),
    R(user, BUS, BUS, 1, 64),
};
static const lc__rule_t coupon_drop_rules[] = {
    RID(coupon, C2S, C2S), R(title, C2S, C2S, 1, 200), R(off, C2S, 0, 1, BIG), R(pct, C2S, 0, 1, 90),
    R(quota, C2S, C2S, 1, 1000000), R(per_user, C2S, 0, 1, 100), R(secs, C2S, C2S, 5, 3600),
    RID(sku, C2S, 0), R(min_price, C2S, 0, 0, BIG),
};
/* also an item of welcome.coupons and my_coupons.coupons (claimed, used: the caller's) */
static const lc__rule_t coupon_rules[] = {
    RID(coupon, S2C, S2C), R(title, S2C, S2C, 1, 200), R(off, S2C, 0, 0, BIG), R(pct, S2C, 0, 0, 90),
    R(quota, S2C, 0, 0, BIG), R(left, S2C, 0, 0, BIG), R(per_user, S2C, 0, 0, 100), R(ends, S2C, S2C, 0, NOMAX),
    RID(sku, S2C, 0), R(min_price, S2C, 0, 0, BIG), R(claimed, S2C, 0, 0, BIG), R(used, S2C, 0, 0, BIG),
};
static const lc__rule_t coupon_left_rules[] = {RID(coupon, S2C, S2C), R(left, S2C, S2C, 0, BIG), R(used, S2C, 0, 0, BIG)};
static const lc__rule_t coupon_gone_rules[] = {RID(coupon, S2C, S2C)};
/* claim: a coupon that is not an id is answered with claim status "invalid": types only here */
static const lc__rule_t coupon_claim_rules[] = {R(coupon, C2S, C2S, 1, 64), R(req, C2S, C2S, 1, 64),
                                                R(retry, C2S, 0, 0, 1)};
static const lc__rule_t claim_rules[] = {
    R(req, S2C, S2C, 1, 64), R(coupon, S2C, S2C, 0, 64), R(status, S2C, S2C, 1, 32), R(left, S2C, 0, 0, BIG),
    R(count, BUS, 0, 1, 1), /* the first decision took a coupon (not a replay): for the metrics */
};
/* an order as the shop's GET shows it (checkout.lua "order") */
static const lc__rule_t order_state_rules[] = {
    RSID(order, BUS, BUS), R(status, BUS, BUS, 1, 32), /* not_found: nothing else */
    R(user, BUS, 0, 1, 64), R(sku, BUS, 0, 1, 64), R(qty, BUS, 0, 0, BIG), R(ts, BUS, 0, 0, NOMAX), R(price, BUS, 0, 0, BIG), R(pay_by, BUS, 0, 0, NOMAX),
    R(paid_ts, BUS, 0, 0, NOMAX), R(list_price, BUS, 0, 0, BIG), R(coupon, BUS, 0, 1, 64),
};
static const lc__rule_t my_coupons_rules[] = {
    {LC_F_coupons, S2C, S2C, 0, 1000, LC__CHK_NONE, NULL, LC_MSG_COUPON, 0},
};

/* ---- lucky bags, leaderboards, "people are buying" (PROTOCOL.md, "Lucky bag", "Leaderboards") ---- */
static const lc__rule_t lottery_open_rules[] = {
    RID(lottery, C2S, C2S), R(prize, C2S, C2S, 1, 200), R(winners, C2S, C2S, 1, 1000), R(secs, C2S, C2S, 10, 3600),
    R(keyword, C2S, 0, 1, 50),
};
/* also an item of welcome.lotteries; seed travels to the scripts only at the open (BUS) */
static const lc__rule_t lottery_rules[] = {
    RID(lottery, S2C, S2C), R(prize, S2C, S2C, 1, 200), R(winners, S2C, S2C, 1, 1000), R(ends, S2C, S2C, 0, NOMAX),
    R(keyword, S2C, 0, 1, 50), R(commit, S2C, S2C, 64, 64), R(entry_count, S2C, 0, 0, NOMAX),
};
static const lc__rule_t lottery_enter_rules[] = {R(lottery, C2S, C2S, 1, 64)};
static const lc__rule_t enter_rules[] = {R(lottery, S2C, S2C, 0, 64), R(status, S2C, S2C, 1, 32)};
/* entered: user on the bus only (each shard tells that user's connections) */
static const lc__rule_t entered_rules[] = {RID(lottery, S2C | BUS, S2C | BUS), R(user, BUS, BUS, 1, 64)};
/* lottery_result: prize on the bus only (each shard tells its winners `won`) */
static const lc__rule_t lottery_result_rules[] = {
    RID(lottery, S2C, S2C), R(winner_list, S2C, S2C, 0, 1000), R(entry_count, S2C, S2C, 0, NOMAX),
    R(seed, S2C, S2C, 64, 64), R(prize, BUS, 0, 1, 200),
};
/* a lottery as the API's GET shows it (lottery.lua "get"); users: the entrants, sorted */
static const lc__rule_t lottery_state_rules[] = {
    RID(lottery, BUS, BUS), R(status, BUS, BUS, 1, 16), R(prize, BUS, 0, 1, 200), R(count, BUS, 0, 1, 1000), /* K */
    R(ends, BUS, 0, 0, NOMAX), R(keyword, BUS, 0, 1, 50), R(commit, BUS, 0, 64, 64), R(entry_count, BUS, 0, 0, NOMAX),
    R(seed, BUS, 0, 64, 64), R(winner_list, BUS, 0, 0, 1000), R(users, BUS, 0, 0, 10000000),
};
static const lc__rule_t won_rules[] = {RID(lottery, S2C, S2C), R(prize, S2C, S2C, 1, 200)};
static const lc__rule_t top_rules[] = {
    R(board, S2C, S2C, 1, 16), {LC_F_entries, S2C, S2C, 0, 10, LC__CHK_NONE, NULL, LC_MSG_MEMBER, 0},
};
/* the funnel (PROTOCOL.md "The funnel"): stats.lua's answer, and the streamers' message;
 * shard (bus only): the shard that holds the room's reporting lease */
static const lc__rule_t stats_rules[] = {
    R(viewers_now, S2C | BUS, S2C | BUS, 0, NOMAX), R(viewers_peak, S2C | BUS, S2C | BUS, 0, NOMAX),
    R(viewers_unique, S2C | BUS, S2C | BUS, 0, NOMAX), R(engaged, S2C | BUS, S2C | BUS, 0, NOMAX),
    R(buyers, S2C | BUS, S2C | BUS, 0, NOMAX), R(orders, S2C | BUS, S2C | BUS, 0, NOMAX),
    R(units, S2C | BUS, S2C | BUS, 0, NOMAX), R(revenue, S2C | BUS, S2C | BUS, 0, NOMAX),
    R(ts, S2C | BUS, S2C | BUS, 0, NOMAX), R(shard, BUS, 0, 1, 128),
    {LC_F_series, S2C | BUS, 0, 0, 360, LC__CHK_NONE, NULL, LC_MSG_POINT, 0},
};
/* one 10-s point of stats.series */
static const lc__rule_t point_rules[] = {
    R(t, S2C | BUS, S2C | BUS, 0, NOMAX), R(viewers, S2C | BUS, S2C | BUS, 0, NOMAX),
    R(orders, S2C | BUS, S2C | BUS, 0, NOMAX), R(likes, S2C | BUS, S2C | BUS, 0, NOMAX),
    R(comments, S2C | BUS, S2C | BUS, 0, NOMAX),
};
static const lc__rule_t buying_rules[] = {R(count, S2C, S2C, 0, NOMAX), R(users, S2C, S2C, 0, 3)};

/* ---- tokens and moderation (PROTOCOL.md, "Auth" and "Moderation") ---- */
static const lc__rule_t refresh_rules[] = {R(token, C2S, C2S, 1, 4096)};
static const lc__rule_t mute_rules[] = {R(user, C2S, C2S, 1, 64), R(secs, C2S, C2S, 0, 86400 * 365)};
static const lc__rule_t ban_rules[] = {R(user, C2S | BUS, C2S | BUS, 1, 64)};
static const lc__rule_t delete_rules[] = {RSID(id, C2S, C2S)};
static const lc__rule_t slow_mode_rules[] = {R(secs, BOTH, BOTH, 0, 3600)};
static const lc__rule_t deleted_rules[] = {RSID(id, S2C, S2C)};
static const lc__rule_t reconnect_rules[] = {R(after_ms, S2C, S2C, 0, 3600000)};
static const lc__rule_t announce_rules[] = {
    RSID(id, S2C, S2C), R(text, S2C, S2C, 1, 500), R(ts, S2C, S2C, 0, NOMAX),
};
static const lc__rule_t product_rules[] = {
    RSID(id, S2C, S2C), RID(sku, S2C, S2C), R(title, S2C, S2C, 1, 200), R(price, S2C, S2C, 0, BIG),
    R(ts, S2C, S2C, 0, NOMAX),
};

/* ---- what the Redis scripts answer (PROTOCOL.md, "Redis layout"): bus only ---- */
/* A script's outcome that is no client message of its own (a comment's id, a sale opened). */
static const lc__rule_t reply_rules[] = {
    R(status, BUS, BUS, 1, 32), RSID(id, BUS, 0), R(count, BUS, 0, 0, NOMAX),
    R(due, BUS, 0, 0, NOMAX), R(ts, BUS, 0, 0, NOMAX), /* a sweep: the next deadline, Redis's clock */
};
/* What a shard needs to welcome viewers (join.lua): the counters, the stream's newest id, the
 * history (entries someone else wrote into the stream and that do not decode are dropped), the
 * open sales, which of the joiners are banned (`entries`: member items), slow mode. */
static const lc__rule_t room_state_rules[] = {
    R(likes, BUS, BUS, 0, NOMAX), R(viewers, BUS, BUS, 0, NOMAX), RSID(last, BUS, BUS),
    R(recovered, BUS, 0, 0, 1),
    {LC_F_history, BUS, 0, 0, 1000000, LC__CHK_NONE, NULL, LC_MSG_NONE, 1},
    /* lenient too: a sale hash that is not ours is skipped, not a failed welcome */
    {LC_F_sales, BUS, 0, 0, 1000, LC__CHK_NONE, NULL, LC_MSG_NONE, 1},
    {LC_F_entries, BUS, 0, 0, 100000, LC__CHK_NONE, NULL, LC_MSG_MEMBER, 0},
    R(secs, BUS, 0, 0, 3600),
    /* the claimable coupons, the earliest payment deadline, Redis's clock */
    {LC_F_coupons, BUS, 0, 0, 1000, LC__CHK_NONE, NULL, LC_MSG_COUPON, 1},
    R(due, BUS, 0, 0, NOMAX), R(ts, BUS, 0, 0, NOMAX),
    /* the open lottery (0 or 1) and both boards' top 10 */
    {LC_F_lotteries, BUS, 0, 0, 1, LC__CHK_NONE, NULL, LC_MSG_LOTTERY, 1},
    {LC_F_tops, BUS, 0, 0, 2, LC__CHK_NONE, NULL, LC_MSG_TOP, 1},
};

#define T(name, dirs, rules) {name, dirs, rules, sizeof(rules) / sizeof(rules[0])}
#define T0(name, dirs) {name, dirs, NULL, 0}

const lc__type_desc_t lc__types[LC_MSG__COUNT] = {
    [LC_MSG_NONE] = T0(NULL, 0),
    [LC_MSG_HELLO] = T("hello", C2S, hello_rules),
    [LC_MSG_WELCOME] = T("welcome", S2C, welcome_rules),
    [LC_MSG_COMMENT] = T("comment", BOTH, comment_rules),
    [LC_MSG_LIKE] = T("like", C2S, like_rules),
    [LC_MSG_LIKES] = T("likes", S2C, likes_rules),
    [LC_MSG_VIEWERS] = T("viewers", S2C, viewers_rules),
    [LC_MSG_PING] = T0("ping", C2S),
    [LC_MSG_PONG] = T0("pong", S2C),
    [LC_MSG_GAP] = T("gap", S2C, gap_rules),
    [LC_MSG_ERROR] = T("error", S2C, error_rules),
    [LC_MSG_SALE_OPEN] = T("sale_open", C2S, sale_open_rules),
    [LC_MSG_SALE_CLOSE] = T("sale_close", C2S, sku_rules),
    [LC_MSG_BUY] = T("buy", C2S, buy_rules),
    [LC_MSG_CANCEL] = T("cancel", C2S, cancel_rules),
    [LC_MSG_GROUP_OPEN] = T("group_open", C2S, group_open_rules),
    [LC_MSG_GROUP_JOIN] = T("group_join", C2S, group_join_rules),
    [LC_MSG_SALE] = T("sale", S2C, sale_rules),
    [LC_MSG_GROUP_SALE] = T("group_sale", S2C, group_sale_rules),
    [LC_MSG_STOCK] = T("stock", S2C, stock_rules),
    [LC_MSG_SOLD_OUT] = T("sold_out", S2C, sku_rules),
    [LC_MSG_SALE_CLOSED] = T("sale_closed", S2C, sku_rules),
    [LC_MSG_ORDER] = T("order", S2C, order_rules),
    [LC_MSG_CANCELLED] = T("cancelled", S2C, cancelled_rules),
    [LC_MSG_GROUP] = T("group", S2C, group_rules),
    [LC_MSG_GROUP_DONE] = T("group_done", S2C, group_done_rules),
    [LC_MSG_GROUP_FAILED] = T("group_failed", S2C, group_failed_rules),
    [LC_MSG_TEAMS] = T("teams", S2C, teams_rules),
    [LC_MSG_TEAM_DONE] = T("team_done", BUS, team_result_rules),
    [LC_MSG_TEAM_FAILED] = T("team_failed", BUS, team_result_rules),
    [LC_MSG_MEMBER] = T("member", BUS | S2C, member_rules),
    [LC_MSG_REFRESH] = T("refresh", C2S, refresh_rules),
    [LC_MSG_MUTE] = T("mute", C2S, mute_rules),
    [LC_MSG_BAN] = T("ban", C2S | BUS, ban_rules),
    [LC_MSG_UNBAN] = T("unban", C2S, ban_rules),
    [LC_MSG_DELETE] = T("delete", C2S, delete_rules),
    [LC_MSG_SLOW_MODE] = T("slow_mode", BOTH, slow_mode_rules),
    [LC_MSG_DELETED] = T("deleted", S2C, deleted_rules),
    [LC_MSG_RECONNECT] = T("reconnect", S2C, reconnect_rules),
    [LC_MSG_ANNOUNCE] = T("announce", S2C, announce_rules),
    [LC_MSG_PRODUCT] = T("product", S2C, product_rules),
    [LC_MSG_REPLY] = T("reply", BUS, reply_rules),
    [LC_MSG_ROOM_STATE] = T("room_state", BUS, room_state_rules),
    [LC_MSG_PAID] = T("paid", S2C | BUS, order_event_rules),
    [LC_MSG_EXPIRED] = T("expired", S2C | BUS, order_event_rules),
    [LC_MSG_COUPON_DROP] = T("coupon_drop", C2S, coupon_drop_rules),
    [LC_MSG_COUPON] = T("coupon", S2C, coupon_rules),
    [LC_MSG_COUPON_LEFT] = T("coupon_left", S2C, coupon_left_rules),
    [LC_MSG_COUPON_GONE] = T("coupon_gone", S2C, coupon_gone_rules),
    [LC_MSG_COUPON_CLAIM] = T("coupon_claim", C2S, coupon_claim_rules),
    [LC_MSG_CLAIM] = T("claim", S2C, claim_rules),
    [LC_MSG_COUPONS] = T0("coupons", C2S),
    [LC_MSG_MY_COUPONS] = T("my_coupons", S2C, my_coupons_rules),
    [LC_MSG_ORDER_STATE] = T("order_state", BUS, order_state_rules),
    [LC_MSG_LOTTERY_OPEN] = T("lottery_open", C2S, lottery_open_rules),
    [LC_MSG_LOTTERY] = T("lottery", S2C, lottery_rules),
    [LC_MSG_LOTTERY_ENTER] = T("lottery_enter", C2S, lottery_enter_rules),
    [LC_MSG_ENTER] = T("enter", S2C, enter_rules),
    [LC_MSG_ENTERED] = T("entered", S2C | BUS, entered_rules),
    [LC_MSG_LOTTERY_RESULT] = T("lottery_result", S2C, lottery_result_rules),
    [LC_MSG_WON] = T("won", S2C, won_rules),
    [LC_MSG_TOP] = T("top", S2C, top_rules),
    [LC_MSG_BUYING] = T("buying", S2C, buying_rules),
    [LC_MSG_LOTTERY_STATE] = T("lottery_state", BUS, lottery_state_rules),
    [LC_MSG_STATS] = T("stats", S2C | BUS, stats_rules),
    [LC_MSG_POINT] = T("point", S2C | BUS, point_rules),
};

lc_msg_type_t lc__type_lookup(const char *s, size_t n) {
    for (int t = 1; t < LC_MSG__COUNT; t++) {
        const char *name = lc__types[t].name;
        if (strlen(name) == n && memcmp(name, s, n) == 0) return (lc_msg_type_t)t;
    }
    return LC_MSG_NONE;
}

const lc__rule_t *lc__rule_find(lc_msg_type_t t, const char *key, size_t n) {
    const lc__type_desc_t *td = &lc__types[t];
    for (size_t i = 0; i < td->nrules; i++) {
        const lc__field_desc_t *fd = &lc__fields[td->rules[i].f];
        if (fd->name_len == n && memcmp(fd->name, key, n) == 0) return &td->rules[i];
    }
    return NULL;
}

const char *lc_msg_type_name(lc_msg_type_t t) {
    return (t > LC_MSG_NONE && t < LC_MSG__COUNT) ? lc__types[t].name : NULL;
}

const char *lc_err_code_name(lc_err_code_t c) {
    static const char *const names[LC_ERR__COUNT] = {
        [LC_ERR_NONE] = NULL,
#define X(id, name) [LC_ERR_##id] = name,
        LC_ERR_CODES(X)
#undef X
    };
    return (c >= 0 && c < LC_ERR__COUNT) ? names[c] : NULL;
}
