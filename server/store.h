/*
 * lc_store: all of livecart's Redis access, and the only module that
 * includes hiredis. It knows no WebSockets and no room structs: every call
 * names a room, and answers come back by callback. Routing rooms to several
 * Redis primaries later changes this module alone.
 *
 * Two connections: one for commands (pipelined; scripts are loaded when it
 * connects and run by SHA, re-sent with EVAL on NOSCRIPT), one for pub/sub.
 * Both reconnect by themselves with back-off; a command unanswered for
 * timeout_ms drops its connection, so no caller waits forever.
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

typedef struct lc_store lc_store_t;

/* A callback's status. The difference between the last two is what a
 * client is told: a command that may have run must never be reported as
 * "nothing happened" (an order would exist that its buyer was told failed). */
enum {
    LC_STORE_OK = 0,       /* the reply */
    LC_STORE_UNKNOWN = -1, /* sent, and no usable answer: the connection was lost or timed
                            * out, or the script failed part-way. It may have run. */
    LC_STORE_REFUSED = -2, /* Redis answered with an error that it gives before running
                            * anything (OOM, BUSY, LOADING, READONLY, ...): it did not run. */
};

typedef struct lc_store_events {
    /* The command or subscriber connection went up or down. */
    void (*on_state)(void *arg);
    /* A SUBSCRIBE for room took effect: the first time, and again after the
     * subscriber reconnected (messages in between were not received). */
    void (*on_subscribed)(void *arg, const char *room, size_t n);
    /* A message on room's channel; payload is valid during the call only. */
    void (*on_message)(void *arg, const char *room, size_t n, const char *payload, size_t len);
} lc_store_events_t;

/* host must be a numeric address (resolve names before, at start-up). */
lc_store_t *lc_store_create(uv_loop_t *loop, const char *host, int port, unsigned timeout_ms,
                            const lc_store_events_t *ev, void *arg);

/* Closes both connections. Callbacks of pending commands run now, with
 * status -1, and must not call the store. The memory is freed once libuv
 * has closed the handles (keep running the loop). */
void lc_store_destroy(lc_store_t *s);

int lc_store_up(const lc_store_t *s);     /* commands can be sent */
int lc_store_sub_up(const lc_store_t *s); /* subscriptions are live */
size_t lc_store_pending(const lc_store_t *s);

/* Command round trips (send to reply, replies only), as a histogram:
 * le[i] counts those that took at most 64 us << i (cumulative is the
 * caller's business); sum_us their total. */
#define LC_STORE_LAT_BUCKETS 18
typedef struct lc_store_latency {
    uint64_t le[LC_STORE_LAT_BUCKETS]; /* the last bucket takes everything slower too */
    uint64_t count, sum_us;
} lc_store_latency_t;
const lc_store_latency_t *lc_store_latency(const lc_store_t *s);

/* One entry of a room's stream; pointers valid during the callback.
 * kind 'c' comment (a = user, b = text), 'a' announce (b = text),
 * 'p' product (a = sku, b = title, c = price). */
typedef struct lc_store_entry {
    char kind;
    const char *id, *a, *b, *c;
    size_t id_n, a_n, b_n, c_n;
} lc_store_entry_t;

/* One element of a flat script reply: a string or an integer. */
typedef struct lc_store_val {
    const char *s; /* NULL for an integer */
    size_t n;
    int64_t i;
} lc_store_val_t;

/* An open sale of a room, as join.lua lists it. */
typedef struct lc_store_sale {
    const char *kind, *sku, *title; /* kind: "sale" or "group" */
    size_t kind_n, sku_n, title_n;
    int64_t price, left, limit, size, ttl_s, teams;
    int64_t total; /* the opening stock */
} lc_store_sale_t;

typedef struct lc_store_join {
    int64_t likes;  /* the room's like total */
    int64_t others; /* viewers on other live shards */
    const char *last; /* newest comment id, "0-0" if none */
    size_t last_n;
    int recovered; /* with since: 1 if entries hold everything after it */
    const lc_store_entry_t *entries; /* oldest first */
    size_t n;
    const lc_store_sale_t *sales;
    size_t nsales;
    const lc_store_val_t *banned; /* which of the joining users are banned */
    size_t nbanned;
    int64_t slow_secs; /* slow mode, 0: off */
} lc_store_join_t;

typedef void lc_store_join_cb(void *arg, int status, const lc_store_join_t *res);
typedef void lc_store_int_cb(void *arg, int status, int64_t value);
typedef void lc_store_vals_cb(void *arg, int status, const lc_store_val_t *v, size_t n);

/* Room state for welcoming viewers: the last `count` comments, or (since
 * non-NULL) those after since, at most cap; and which of users are banned. */
int lc_store_join(lc_store_t *s, const char *room, size_t rn, const char *shard, unsigned count,
                  const char *since, size_t since_n, unsigned cap, const lc_store_val_t *users,
                  size_t nusers, lc_store_join_cb *cb, void *arg);

/* A comment for comment.lua. req: the client's id for it ("" for none;
 * then kept req_ttl_s for de-duplication); exempt: no slow mode. */
typedef struct lc_store_comment {
    const char *user, *text, *req;
    size_t user_n, text_n, req_n;
    unsigned cap, req_ttl_s;
    int exempt;
} lc_store_comment_t;

/* Appends a comment to the room's stream (capped near cap) and publishes it,
 * unless the user is banned, muted or inside slow mode, or (user, req) was
 * posted already. Answers {status, id}. */
int lc_store_comment(lc_store_t *s, const char *room, size_t rn, const lc_store_comment_t *c,
                     lc_store_vals_cb *cb, void *arg);

/* A shop message for post.lua: kind "announce" (args: text) or "product"
 * (args: sku, title, price); key: an idempotency key ("" for none), kept
 * key_ttl_s; cap: the stream's cap. */
typedef struct lc_store_post {
    const char *kind;
    const lc_store_val_t *args;
    size_t nargs;
    const char *key;
    size_t key_n;
    unsigned key_ttl_s, cap;
} lc_store_post_t;

/* Posts it. Answers {status ("ok", "replayed", "key_reused"), id}. */
int lc_store_post(lc_store_t *s, const char *room, size_t rn, const lc_store_post_t *p, lc_store_vals_cb *cb,
                  void *arg);

/* Runs one moderate.lua op (mute, ban, unban, delete, slow). Answers {status}. */
int lc_store_moderate(lc_store_t *s, const char *room, size_t rn, const char *op,
                      const lc_store_val_t *args, size_t nargs, lc_store_vals_cb *cb, void *arg);

/* Adds a batch of likes exactly once per (shard, boot, seq); answers the total. */
int lc_store_likes(lc_store_t *s, const char *room, size_t rn, const char *shard,
                   const char *boot, uint64_t seq, int64_t count, lc_store_int_cb *cb, void *arg);

/* Sets this shard's viewer share (0 removes it); answers the room's total. */
int lc_store_viewers(lc_store_t *s, const char *room, size_t rn, const char *shard,
                     int64_t count, unsigned ttl_ms, lc_store_int_cb *cb, void *arg);

/* Decides one flash-sale buy (buy.lua). Answers {status, order, qty, left}. */
typedef struct lc_store_buy_req {
    const char *sku, *user, *req, *ip; /* ip: "" when unknown */
    size_t sku_n, user_n, req_n;
    int64_t qty;
    const char *shard;
    unsigned req_ttl_s, ip_cap, fast_ms, ip_users;
} lc_store_buy_req_t;

int lc_store_buy(lc_store_t *s, const char *room, size_t rn, const lc_store_buy_req_t *b,
                 lc_store_vals_cb *cb, void *arg);

/* Runs one commerce.lua op with its arguments (see the script for each
 * op's arguments and answer). */
int lc_store_commerce(lc_store_t *s, const char *room, size_t rn, const char *op,
                      const lc_store_val_t *args, size_t nargs, lc_store_vals_cb *cb, void *arg);

/* Adds room to the global set of rooms that have sold something
 * (lc:sale-rooms), for the shop's order consumer to discover. Fire and forget. */
void lc_store_note_sale_room(lc_store_t *s, const char *room, size_t rn);

/* Keeps room's channel subscribed (also across reconnects) until
 * unsubscribe. Returns 0, or -1 out of memory. */
int lc_store_subscribe(lc_store_t *s, const char *room, size_t rn);
void lc_store_unsubscribe(lc_store_t *s, const char *room, size_t rn);

#endif
