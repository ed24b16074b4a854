/*
 * lc_proto: the livecart wire codec, shared by the server and the load tool.
 *
 * One schema (proto/schema.c) describes every message type: which keys it
 * has, their kinds, limits and which side may send them. The JSON (jansson)
 * and msgpack (msgpack-c) codecs are driven by that table, so both formats
 * carry the same keys and values by construction. This module knows no
 * sockets and no Redis: bytes in, typed messages out, and back.
 */
#ifndef LC_PROTO_H
#define LC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "lc_buf.h"

typedef enum { LC_FMT_JSON = 0, LC_FMT_MSGPACK = 1 } lc_fmt_t;
#define LC_FMT_COUNT 2

/* Who sends a message: decoding checks that the type and its keys are
 * allowed in that direction (a client may not send "welcome"). BUS marks
 * messages that only travel between shards on a room's Redis channel. */
typedef enum { LC_DIR_C2S = 1, LC_DIR_S2C = 2, LC_DIR_BUS = 4 } lc_dir_t;

/* The largest client message, after reassembly of fragments. */
#define LC_MAX_CLIENT_MSG 4096

#define LC_MSG_TYPES(X)   \
    X(HELLO, "hello")     \
    X(WELCOME, "welcome") \
    X(COMMENT, "comment") \
    X(LIKE, "like")       \
    X(LIKES, "likes")     \
    X(VIEWERS, "viewers") \
    X(PING, "ping")       \
    X(PONG, "pong")       \
    X(GAP, "gap")         \
    X(ERROR, "error")     \
    X(SALE_OPEN, "sale_open")       \
    X(SALE_CLOSE, "sale_close")     \
    X(BUY, "buy")                   \
    X(CANCEL, "cancel")             \
    X(GROUP_OPEN, "group_open")     \
    X(GROUP_JOIN, "group_join")     \
    X(SALE, "sale")                 \
    X(GROUP_SALE, "group_sale")     \
    X(STOCK, "stock")               \
    X(SOLD_OUT, "sold_out")         \
    X(SALE_CLOSED, "sale_closed")   \
    X(ORDER, "order")               \
    X(CANCELLED, "cancelled")       \
    X(GROUP, "group")               \
    X(GROUP_DONE, "group_done")     \
    X(GROUP_FAILED, "group_failed") \
    X(TEAMS, "teams")               \
    X(TEAM_DONE, "team_done")       \
    X(TEAM_FAILED, "team_failed")   \
    X(MEMBER, "member")             \
    X(REFRESH, "refresh")           \
    X(MUTE, "mute")                 \
    X(BAN, "ban")                   \
    X(UNBAN, "unban")               \
    X(DELETE, "delete")             \
    X(SLOW_MODE, "slow_mode")       \
    X(DELETED, "deleted")           \
    X(RECONNECT, "reconnect")       \
    X(ANNOUNCE, "announce")         \
    X(PRODUCT, "product")           \
    X(REPLY, "reply")               \
    X(ROOM_STATE, "room_state")     \
    X(PAID, "paid")                 \
    X(EXPIRED, "expired")           \
    X(COUPON_DROP, "coupon_drop")   \
    X(COUPON, "coupon")             \
    X(COUPON_LEFT, "coupon_left")   \
    X(COUPON_GONE, "coupon_gone")   \
    X(COUPON_CLAIM, "coupon_claim") \
    X(CLAIM, "claim")               \
    X(COUPONS, "coupons")           \
    X(MY_COUPONS, "my_coupons")     \
    X(ORDER_STATE, "order_state")   \
    X(LOTTERY_OPEN, "lottery_open") \
    X(LOTTERY, "lottery")           \
    X(LOTTERY_ENTER, "lottery_enter") \
    X(ENTER, "enter")               \
    X(ENTERED, "entered")           \
    X(LOTTERY_RESULT, "lottery_result") \
    X(WON, "won")                   \
    X(TOP, "top")                   \
    X(BUYING, "buying")             \
    X(LOTTERY_STATE, "lottery_state") \
    X(STATS, "stats")               \
    X(POINT, "point")

typedef enum {
    LC_MSG_NONE = 0,
#define X(id, name) LC_MSG_##id,
    LC_MSG_TYPES(X)
#undef X
        LC_MSG__COUNT
} lc_msg_type_t;

/* Every key any message may carry: name, C member, kind. The kind decides
 * the member's C type: STR -> lc_str_t, INT -> int64_t, BOOL -> int,
 * LIST -> lc_msg_list_t (an array of nested messages), STRS -> lc_strs_t
 * (an array of strings, 1-64 bytes each: user ids). */
#define LC_FIELDS(X)            \
    X(user, STR)                \
    X(role, STR)                \
    X(token, STR)               \
    X(since, STR)               \
    X(text, STR)                \
    X(id, STR)                  \
    X(room, STR)                \
    X(shard, STR)               \
    X(last, STR)                \
    X(code, STR)                \
    X(message, STR)             \
    X(count, INT)               \
    X(total, INT)               \
    X(ts, INT)                  \
    X(viewers, INT)             \
    X(likes, INT)               \
    X(recovered, BOOL)          \
    X(history, LIST)            \
    X(sku, STR)                 \
    X(title, STR)               \
    X(req, STR)                 \
    X(status, STR)              \
    X(order, STR)               \
    X(team, STR)                \
    X(price, INT)               \
    X(stock, INT)               \
    X(limit, INT)               \
    X(qty, INT)                 \
    X(left, INT)                \
    X(size, INT)                \
    X(ttl_s, INT)               \
    X(members, INT)             \
    X(teams, INT)               \
    X(waiting, INT)             \
    X(sales, LIST)              \
    X(entries, LIST)            \
    X(secs, INT)                \
    X(after_ms, INT)            \
    X(pay_s, INT)               \
    X(pay_by, INT)              \
    X(coupon, STR)              \
    X(off, INT)                 \
    X(pct, INT)                 \
    X(quota, INT)               \
    X(per_user, INT)            \
    X(ends, INT)                \
    X(min_price, INT)           \
    X(list_price, INT)          \
    X(claimed, INT)             \
    X(used, INT)                \
    X(due, INT)                 \
    X(paid_ts, INT)             \
    X(lottery, STR)             \
    X(prize, STR)               \
    X(winners, INT)             \
    X(keyword, STR)             \
    X(commit, STR)              \
    X(seed, STR)                \
    X(board, STR)               \
    X(score, INT)               \
    X(users, STRS)              \
    X(lotteries, LIST)          \
    X(tops, LIST)               \
    X(coupons, LIST)            \
    X(viewers_now, INT)         \
    X(viewers_peak, INT)        \
    X(viewers_unique, INT)      \
    X(engaged, INT)             \
    X(buyers, INT)              \
    X(orders, INT)              \
    X(units, INT)               \
    X(revenue, INT)             \
    X(comments, INT)            \
    X(t, INT)                   \
    X(series, LIST)             \
    X(retry, BOOL)

/* Keys that another key's name already has, with another kind, in other
 * types: C member, key on the wire, kind. A type's rules name one or the
 * other (e.g. `winners`: a count in `lottery`, the users in `lottery_result`). */
#define LC_FIELDS_AS(X) \
    X(winner_list, "winners", STRS) \
    X(entry_count, "entries", INT)

typedef enum {
#define X(name, kind) LC_F_##name,
    LC_FIELDS(X)
#undef X
#define X(name, key, kind) LC_F_##name,
    LC_FIELDS_AS(X)
#undef X
        LC_F__COUNT
} lc_field_t;

/* Which fields a message carries: one bit per lc_field_t. */
#define LC_FIELD_WORDS 2
typedef struct lc_fieldset {
    uint64_t w[LC_FIELD_WORDS];
} lc_fieldset_t;
_Static_assert(LC_F__COUNT <= 64 * LC_FIELD_WORDS, "lc_fieldset_t: more fields than bits");

typedef struct lc_str {
    const char *p; /* not necessarily NUL-terminated when set by a caller */
    size_t n;
} lc_str_t;

struct lc_msg;
typedef struct lc_msg_list {
    struct lc_msg *items;
    size_t n;
} lc_msg_list_t;

typedef struct lc_strs {
    lc_str_t *items;
    size_t n;
} lc_strs_t;

typedef lc_str_t lc__kind_STR;
typedef int64_t lc__kind_INT;
typedef int lc__kind_BOOL;
typedef lc_msg_list_t lc__kind_LIST;
typedef lc_strs_t lc__kind_STRS;

struct lc_arena;

typedef struct lc_msg {
    lc_msg_type_t type;
    lc_fieldset_t has; /* bit LC_F_x: field x is present (lc_msg_has) */
#define X(name, kind) lc__kind_##kind name;
    LC_FIELDS(X)
#undef X
#define X(name, key, kind) lc__kind_##kind name;
    LC_FIELDS_AS(X)
#undef X
    struct lc_arena *arena; /* decoded strings and lists live here */
} lc_msg_t;

/* Field number f (an lc_field_t) in a fieldset. */
#define lc_fieldset_has(s, f) ((((s)->w[(f) >> 6] >> ((f) & 63)) & 1) != 0)
#define lc_fieldset_add(s, f) ((s)->w[(f) >> 6] |= UINT64_C(1) << ((f) & 63))
#define lc_fieldset_del(s, f) ((s)->w[(f) >> 6] &= ~(UINT64_C(1) << ((f) & 63)))
#define lc_msg_has(m, f) lc_fieldset_has(&(m)->has, LC_F_##f)
#define lc_msg_set(m, f, v) ((m)->f = (v), lc_fieldset_add(&(m)->has, LC_F_##f))
#define lc_msg_unset(m, f) lc_fieldset_del(&(m)->has, LC_F_##f)

static inline lc_str_t lc_str(const char *p, size_t n) {
    lc_str_t s = {p, n};
    return s;
}
lc_str_t lc_cstr(const char *s);
int lc_str_eq(lc_str_t a, const char *b);

/* Error codes of error frames (PROTOCOL.md, "Errors"). */
#define LC_ERR_CODES(X)                \
    X(BAD_REQUEST, "bad_request")      \
    X(UNKNOWN_TYPE, "unknown_type")    \
    X(NOT_READY, "not_ready")          \
    X(TOO_LARGE, "too_large")          \
    X(FORBIDDEN, "forbidden")          \
    X(UNAVAILABLE, "unavailable")      \
    X(RATE_LIMITED, "rate_limited")    \
    X(UNAUTHORIZED, "unauthorized")    \
    X(TOKEN_EXPIRED, "token_expired")  \
    X(MUTED, "muted")                  \
    X(BANNED, "banned")                \
    X(FILTERED, "filtered")            \
    X(UNKNOWN, "unknown")

typedef enum {
    LC_ERR_NONE = 0,
#define X(id, name) LC_ERR_##id,
    LC_ERR_CODES(X)
#undef X
        LC_ERR__COUNT
} lc_err_code_t;

typedef struct lc_proto_err {
    lc_err_code_t code;
    char message[120]; /* for humans: which key, which rule */
} lc_proto_err_t;

/* Name of a message type ("hello"), or NULL. */
const char *lc_msg_type_name(lc_msg_type_t t);
/* Name of an error code ("bad_request"), or NULL. */
const char *lc_err_code_name(lc_err_code_t c);

/* Starts an empty message of a type. The message owns nothing yet. */
void lc_msg_init(lc_msg_t *m, lc_msg_type_t type);

/* Frees what decoding allocated; strings and lists taken from m are invalid
 * afterwards. m may be reused with lc_msg_init or lc_msg_decode. */
void lc_msg_clear(lc_msg_t *m);

/*
 * Decodes one message of format fmt sent in direction dir.
 * On success returns 0 and m holds the message; its strings are copied into
 * m's arena (NUL-terminated, valid UTF-8, no NUL inside) and stay valid
 * until lc_msg_clear(m). On failure returns -1, fills err (code and message)
 * and leaves m empty. m must be initialised or cleared before the call.
 */
int lc_msg_decode(lc_msg_t *m, lc_fmt_t fmt, lc_dir_t dir, const void *buf, size_t len,
                  lc_proto_err_t *err);

/*
 * Encodes m in format fmt, appending to out. Fields are written in schema
 * order with "type" first; only fields marked present are written.
 * Returns 0, or -1 if memory runs out or m is not encodable (unknown type).
 */
int lc_msg_encode(const lc_msg_t *m, lc_fmt_t fmt, lc_buf_t *out);

/* 1 if s is 1-64 characters of [A-Za-z0-9_-]: rooms, skus. */
int lc_ident_valid(const char *s, size_t n);

/* Checks that s is valid UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int lc_utf8_valid(const char *s, size_t n);

/* A Redis Stream id "<ms>-<seq>", compared numerically. */
typedef struct lc_sid {
    uint64_t ms, seq;
} lc_sid_t;

/* Parses "<ms>-<seq>" (digits only, each part < 2^64). Returns 0 or -1. */
int lc_sid_parse(lc_sid_t *out, const char *s, size_t n);
/* Formats into buf (at least 42 bytes); returns the length. */
size_t lc_sid_format(lc_sid_t id, char *buf);
/* <0, 0, >0 like memcmp. */
static inline int lc_sid_cmp(lc_sid_t a, lc_sid_t b) {
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

#endif
