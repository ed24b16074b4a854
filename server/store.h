/*
 * lc_store: all of livecart's Redis access, and the only module that
 * includes hiredis. It knows no WebSockets and no room structs: every call
 * names a room, and answers come back by callback. One Redis or a Redis
 * Cluster is the store's business alone: the typed commands (store_cmd.c)
 * build one generic call each, routed by the slot of the room's {hash tag}
 * to the node that serves it (store.c, store_node.c, store_cluster.c).
 *
 * Commands are typed: one argument struct per command, filled with
 * designated initializers; scripts answer with one protocol message
 * (proto/ schema, msgpack, direction BUS) that is decoded here and handed
 * over as an lc_msg_t -- nobody parses a script's reply by position.
 *
 * Calls return 0 when the command was sent: then the callback runs exactly
 * once, later, with a status below. They return -1 when nothing was sent
 * (Redis down, out of memory): then the callback never runs, and the caller
 * may say "nothing happened" (`unavailable`).
 */
#ifndef LC_STORE_H
#define LC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lc_proto.h"
#include "store_types.h"

lc_store_t *lc_store_create(uv_loop_t *loop, const lc_store_opts_t *opts, const lc_store_events_t *ev, void *arg);

/* Closes the connections. Callbacks of pending commands run now, with
 * LC_STORE_UNKNOWN, and must not call the store. The memory is freed once
 * libuv has closed the handles (keep running the loop). */
void lc_store_destroy(lc_store_t *s);

/* Commands can be sent: the one Redis is up; in a cluster, its map is
 * known and some primary is up (a call to a slot whose primary is down
 * returns -1: that room is unavailable, the others are not). */
int lc_store_up(const lc_store_t *s);
/* Likewise for the subscriber connections. */
int lc_store_sub_up(const lc_store_t *s);
size_t lc_store_pending(const lc_store_t *s);

/* What an "ok" is worth (LC_STORE_DURABLE_*, store_types.h), one line for
 * the log, /healthz and the metrics. */
const char *lc_store_durability(const lc_store_t *s, int *mode);

/* What the router did, for the metrics. */
void lc_store_stats(const lc_store_t *s, lc_store_stats_t *out);

/* Command round trips (lc_store_latency_t). */
const lc_store_latency_t *lc_store_latency(const lc_store_t *s);

/* ---- the room's stream, counters and welcome ---- */

/* What a shard needs to welcome viewers, or to catch a room up after its
 * subscription came back (join.lua). Answers `room_state`: likes, viewers
 * on the other live shards, the newest stream id `last`, `history` (the
 * last `count` entries, or with `since` those after it, at most `cap`, and
 * `recovered`: whether that is all of them), the open `sales`, `entries`
 * naming which of `users` are banned, `secs` of slow mode. */
typedef struct lc_store_join_req {
    lc_str_t room;
    const char *shard;     /* this shard: its own viewer share is not counted */
    unsigned count;        /* entries of a plain welcome */
    lc_str_t since;        /* resume after this id; n == 0: none */
    unsigned cap;          /* most entries after since */
    const lc_str_t *users; /* the joining users */
    size_t nusers;
} lc_store_join_req_t;
int lc_store_join(lc_store_t *s, const lc_store_join_req_t *r, lc_store_msg_cb *cb, void *arg);

/* Appends a comment to the room's stream (capped near cap) and publishes it,
 * unless the user is banned, muted or inside slow mode, or (user, req) was
 * posted already (comment.lua). Answers `reply`: status ok, dup, banned,
 * muted or rate_limited, and `id`. */
typedef struct lc_store_comment_req {
    lc_str_t room, user, text;
    lc_str_t req;       /* the client's id for it; n == 0: none */
    unsigned cap;       /* the stream's length */
    unsigned req_ttl_s; /* how long (user, req) is remembered */
    int exempt;         /* streamer or moderator: no slow mode */
} lc_store_comment_req_t;
int lc_store_comment(lc_store_t *s, const lc_store_comment_req_t *r, lc_store_msg_cb *cb, void *arg);

/* A shop message for the room's stream (post.lua). Answers `reply`: status
 * ok, replayed (the key was used with this body: `id` is the first post's)
 * or key_reused (another body). */
typedef struct lc_store_post_req {
    lc_str_t room;
    lc_msg_type_t type; /* LC_MSG_ANNOUNCE (text) or LC_MSG_PRODUCT (sku, title, price) */
    lc_str_t text, sku, title;
    int64_t price;
    lc_str_t key;       /* Idempotency-Key; n == 0: none */
    unsigned key_ttl_s, cap;
} lc_store_post_req_t;
int lc_store_post(lc_store_t *s, const lc_store_post_req_t *r, lc_store_msg_cb *cb, void *arg);

/* Adds a batch of likes exactly once per (shard, boot, seq), and each
 * liker's to the room's likes board; answers the total. */
typedef struct lc_store_liker {
    char user[65];
    uint8_t ulen;
    int64_t n;
} lc_store_liker_t;
typedef struct lc_store_likes_req {
    lc_str_t room;
    const char *shard, *boot;
    uint64_t seq;
    int64_t count;
    const lc_store_liker_t *likers; /* who sent them (their sum is count) */
    size_t nlikers;
} lc_store_likes_req_t;
int lc_store_likes(lc_store_t *s, const lc_store_likes_req_t *r, lc_store_int_cb *cb, void *arg);

/* Sets this shard's viewer share (0 removes it); answers the room's total. */
typedef struct lc_store_viewers_req {
    lc_str_t room;
    const char *shard;
    int64_t count;
    unsigned ttl_ms;
} lc_store_viewers_req_t;
int lc_store_viewers(lc_store_t *s, const lc_store_viewers_req_t *r, lc_store_int_cb *cb, void *arg);

/* ---- moderation (moderate.lua) ---- */

typedef enum { LC_MOD_MUTE, LC_MOD_BAN, LC_MOD_UNBAN, LC_MOD_DELETE, LC_MOD_SLOW } lc_mod_op_t;
/* Answers `reply`: status ok, or not_found (delete of no such comment). */
typedef struct lc_store_moderate_req {
    lc_str_t room;
    lc_mod_op_t op;
    lc_str_t user; /* mute, ban, unban */
    lc_str_t id;   /* delete: the comment's id */
    int64_t secs;  /* mute: for how long; slow: the interval (0: off) */
} lc_store_moderate_req_t;
int lc_store_moderate(lc_store_t *s, const lc_store_moderate_req_t *r, lc_store_msg_cb *cb, void *arg);

/* ---- flash sales and group-buys (buy.lua, commerce.lua) ---- */

/* Decides one flash-sale buy. Answers `order` (req, sku, status, and order,
 * qty on ok; left). The same (user, req) again answers the first decision. */
typedef struct lc_store_buy_req {
    lc_str_t room, sku, user, req;
    lc_str_t ip; /* n == 0: unknown */
    int64_t qty;
    const char *shard;
    unsigned req_ttl_s;
    unsigned ip_cap;   /* units per IP per sale, 0: off */
    unsigned fast_ms;  /* audit an ok buy this soon after the sale opened */
    unsigned ip_users; /* audit buys from an IP with more buyers than this */
    lc_str_t coupon;   /* redeem this claimed coupon; n == 0: none */
} lc_store_buy_req_t;
int lc_store_buy(lc_store_t *s, const lc_store_buy_req_t *r, lc_store_msg_cb *cb, void *arg);

/* Opens a flash sale (group 0) or a group-buy (group 1) and publishes it.
 * Answers `reply`: status ok, exists, or too_many (the room has
 * LC_STORE_MAX_OPEN_SALES open: every welcome lists them, so they are
 * bounded). */
#define LC_STORE_MAX_OPEN_SALES 100
typedef struct lc_store_sale_open_req {
    lc_str_t room, sku, title;
    int group;
    int64_t price, stock;
    int64_t limit;       /* flash sale: units per user */
    int64_t size, ttl_s; /* group-buy: members per team, seconds to fill one */
    int64_t pay_s;       /* flash sale: seconds to pay a reservation; 0: an ok buy is final */
} lc_store_sale_open_req_t;
int lc_store_sale_open(lc_store_t *s, const lc_store_sale_open_req_t *r, lc_store_msg_cb *cb, void *arg);

/* Closes a sale (its open teams dissolve). Answers `reply`: ok or closed. */
int lc_store_sale_close(lc_store_t *s, lc_str_t room, lc_str_t sku, lc_store_msg_cb *cb, void *arg);

/* Joins a group-buy team (team n == 0: the oldest open one, or a new one).
 * Answers `group`. Idempotent by (user, req). */
typedef struct lc_store_group_join_req {
    lc_str_t room, user, req, sku, team;
    const char *shard;
    unsigned req_ttl_s;
} lc_store_group_join_req_t;
int lc_store_group_join(lc_store_t *s, const lc_store_group_join_req_t *r, lc_store_msg_cb *cb, void *arg);

/* Dissolves the room's teams past their deadline. Answers `reply`: ok, and
 * `count` dissolved. */
int lc_store_sale_expire(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg);

/* Publishes sku's stock (and team counts) if they changed since the last
 * publish. Answers `reply`: ok or none. */
int lc_store_sale_publish(lc_store_t *s, lc_str_t room, lc_str_t sku, lc_store_msg_cb *cb, void *arg);

/* Adds room to the global set of rooms that have sold something
 * (lc:sale-rooms), for the shop's order consumer to discover. Fire and forget. */
void lc_store_note_sale_room(lc_store_t *s, lc_str_t room);

/* ---- checkout: an order after its buy (checkout.lua) ---- */

/* Cancels one of user's orders: a reservation before its deadline, a paid
 * order within window_ms of its payment, a final one within window_ms of the
 * buy. Answers `cancelled`. Durable. */
typedef struct lc_store_cancel_req {
    lc_str_t room, user, order;
    int64_t window_ms;
    const char *shard;
} lc_store_cancel_req_t;
int lc_store_cancel(lc_store_t *s, const lc_store_cancel_req_t *r, lc_store_msg_cb *cb, void *arg);

/* The shop confirms a reservation's payment. Answers `reply`: status paid
 * (also again), expired, cancelled, ok (not a reservation) or not_found. Durable. */
int lc_store_order_paid(lc_store_t *s, lc_str_t room, lc_str_t order, const char *shard, lc_store_msg_cb *cb,
                        void *arg);
/* An order's state (an overdue reservation reads expired, moved or not).
 * Answers `order_state` (status not_found: nothing else). */
int lc_store_order_get(lc_store_t *s, lc_str_t room, lc_str_t order, const char *shard, lc_store_msg_cb *cb,
                       void *arg);
/* Expires up to most of the room's reservations past their deadline.
 * Answers `reply`: count expired, due (the next deadline, 0: none) and ts
 * (Redis's clock, ms). */
int lc_store_order_sweep(lc_store_t *s, lc_str_t room, const char *shard, unsigned most, lc_store_msg_cb *cb,
                         void *arg);

/* ---- coupon drops (coupon.lua) ---- */

#define LC_STORE_MAX_OPEN_COUPONS 20  /* claimable at once in a room: every welcome lists them */
#define LC_STORE_MAX_LIVE_COUPONS 100 /* live (redeemable) in a room */
/* Drops a coupon and publishes it. Answers `reply`: ok, exists (the id is
 * live in the room) or too_many. */
typedef struct lc_store_coupon_drop_req {
    lc_str_t room, coupon, title;
    int64_t off, pct;      /* one of them: cents off per unit, or percent */
    int64_t quota, per_user, secs;
    lc_str_t sku;          /* n == 0: any sku of the room */
    int64_t min_price;     /* 0: none */
} lc_store_coupon_drop_req_t;
int lc_store_coupon_drop(lc_store_t *s, const lc_store_coupon_drop_req_t *r, lc_store_msg_cb *cb, void *arg);

/* Claims one coupon for user. Answers `claim`; idempotent by (user, req). Durable. */
typedef struct lc_store_claim_req {
    lc_str_t room, user, req, coupon;
    unsigned req_ttl_s;
} lc_store_claim_req_t;
int lc_store_coupon_claim(lc_store_t *s, const lc_store_claim_req_t *r, lc_store_msg_cb *cb, void *arg);
/* Publishes a coupon's counts (coupon_left) if they changed. Answers `reply`. */
int lc_store_coupon_publish(lc_store_t *s, lc_str_t room, lc_str_t coupon, lc_store_msg_cb *cb, void *arg);
/* Ends the claim windows that are over (coupon_gone, once each). Answers
 * `reply`: count, due (the next window's end, 0: none), ts. */
int lc_store_coupon_close(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg);
/* user's coupons in the room. Answers `my_coupons`. */
int lc_store_coupons_of(lc_store_t *s, lc_str_t room, lc_str_t user, lc_store_msg_cb *cb, void *arg);

/* ---- lucky bags and leaderboards (lottery.lua, board.lua) ---- */

/* Opens a lottery with its secret seed and its commit (hex). Answers
 * `reply`: ok, open (another is open), exists (the id is live). */
typedef struct lc_store_lottery_open_req {
    lc_str_t room, lottery, prize, keyword; /* keyword n == 0: none */
    int64_t winners, secs;
    const char *seed_hex, *commit_hex;      /* 64 hex digits each */
} lc_store_lottery_open_req_t;
int lc_store_lottery_open(lc_store_t *s, const lc_store_lottery_open_req_t *r, lc_store_msg_cb *cb, void *arg);
/* Enters user (lottery_enter). Answers `enter`. */
int lc_store_lottery_enter(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_str_t user, lc_store_msg_cb *cb,
                           void *arg);
/* Closes a lottery whose time has come. Answers `lottery_state` closed
 * (seed, count K, entries n: compute the positions, then record),
 * `lottery_result` (recorded before), or `reply` not_yet (due, ts) or none. */
int lc_store_lottery_draw(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_store_msg_cb *cb, void *arg);
/* Records the draw: the winners' positions (draw.h) in the sorted
 * entrants. Answers `lottery_result`, or `reply` none (not closed). */
int lc_store_lottery_record(lc_store_t *s, lc_str_t room, lc_str_t lottery, const uint64_t *pos, size_t k,
                            lc_store_msg_cb *cb, void *arg);
/* A lottery for the API. Answers `lottery_state` (status none: nothing else). */
int lc_store_lottery_get(lc_store_t *s, lc_str_t room, lc_str_t lottery, lc_store_msg_cb *cb, void *arg);
/* Publishes the boards' changed top 10 and the buying ticker (each at most
 * once a second per room). Answers `reply`: count held back. */
int lc_store_boards_publish(lc_store_t *s, lc_str_t room, lc_store_msg_cb *cb, void *arg);

/* The room's funnel (stats.lua). shard: this shard's id, to take or keep
 * the room's reporting lease (lease_ms), or NULL for none (the API);
 * series: with the last hour's points. Answers `stats` (shard: the
 * reporting shard, if any). */
typedef struct lc_store_funnel_req {
    lc_str_t room;
    const char *shard;
    int64_t lease_ms;
    int series;
} lc_store_funnel_req_t;
int lc_store_funnel(lc_store_t *s, const lc_store_funnel_req_t *r, lc_store_msg_cb *cb, void *arg);

/* ---- pub/sub ---- */

/* Keeps room's channel subscribed (also across reconnects) until
 * unsubscribe. Returns 0, or -1 out of memory. */
int lc_store_subscribe(lc_store_t *s, lc_str_t room);
void lc_store_unsubscribe(lc_store_t *s, lc_str_t room);

#endif
