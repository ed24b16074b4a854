/*
 * Internal to the store: what the typed commands (store_cmd.c) hand to a
 * backend. store.c is the single-instance backend (one Redis); a Redis
 * Cluster backend would implement the same lc__store_send, routing each call
 * by the hash slot of its room's "{room}" tag, without a change to
 * store_cmd.c or to anyone above the store.
 *
 * A call is: the room it belongs to, a script (or a plain command), its
 * keys and arguments built with lc__args_t, how its reply is decoded, and
 * the callback. Nothing in it is hiredis.
 */
#ifndef LC_STORE_INT_H
#define LC_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lc_proto.h"
#include "scripts.h"
#include "store.h"

/* ---- the argument builder ---- */

/* One key or argument: bytes at off in the builder's buffer. */
typedef struct lc__arg {
    size_t off, n;
    int is_key; /* a Redis key (KEYS[i] of a script; routed on by a cluster) */
} lc__arg_t;

/*
 * The keys and arguments of one call, in order. Everything added is copied
 * (the builder owns its bytes), so callers may pass short-lived strings.
 * A script sees KEYS in the order keys were added and ARGV in the order the
 * other items were; a plain command gets every item in order.
 *
 * Out of memory is remembered (err) and makes the call fail as a whole, so a
 * command builds its arguments without checking each add.
 */
typedef struct lc__args {
    lc__arg_t *items;
    size_t n, cap;
    char *buf; /* the bytes of every item */
    size_t used, size;
    int nkeys;
    int err;
    /* inline storage: a typical call (the buy: 18 items) allocates nothing */
    lc__arg_t items0[24];
    char buf0[768];
} lc__args_t;

void lc__args_init(lc__args_t *a);
/* Frees what the builder allocated. */
void lc__args_free(lc__args_t *a);

/* A key of the room: "lc:{ROOM}:" suffix, then sub (sub.n == 0: none),
 * e.g. lc__args_key(a, room, "sale:", sku) for lc:{ROOM}:sale:SKU. */
void lc__args_key(lc__args_t *a, lc_str_t room, const char *suffix, lc_str_t sub);
/* A key outside every room (lc:sale-rooms). */
void lc__args_gkey(lc__args_t *a, const char *key);
/* An argument naming something of the room that is not a key: its channel
 * ("ch") or its key prefix (""): "lc:{ROOM}:" suffix. */
void lc__args_rname(lc__args_t *a, lc_str_t room, const char *suffix);
void lc__args_str(lc__args_t *a, lc_str_t s);
void lc__args_cstr(lc__args_t *a, const char *s); /* NULL: "" */
void lc__args_int(lc__args_t *a, int64_t v);

/* Item i's bytes (valid until the builder changes). */
static inline const char *lc__args_at(const lc__args_t *a, size_t i) { return a->buf + a->items[i].off; }

/* ---- the call ---- */

typedef enum {
    LC__REPLY_MSG,  /* a bulk string holding one msgpack protocol message */
    LC__REPLY_INT,  /* an integer */
    LC__REPLY_NONE, /* anything: nobody waits for it (fire and forget) */
} lc__reply_t;

#define LC__NO_SCRIPT (-1) /* a plain command: the items are its words */

typedef union lc__cb {
    lc_store_msg_cb *msg; /* LC__REPLY_MSG */
    lc_store_int_cb *num; /* LC__REPLY_INT */
} lc__cb_t;

typedef struct lc__call {
    lc_str_t room;         /* whose slot serves the call (n == 0: route by the first key) */
    int script;            /* an lc_script_id_t, or LC__NO_SCRIPT */
    const lc__args_t *args;
    lc__reply_t reply;
    lc_msg_type_t expect;  /* LC__REPLY_MSG: the reply's type; another one is LC_STORE_UNKNOWN */
    lc__cb_t cb;           /* unused with LC__REPLY_NONE */
    void *arg;
} lc__call_t;

/*
 * Sends a call. Returns 0 when it was sent: then the callback runs exactly
 * once, later (never from inside this call), with LC_STORE_OK and the
 * decoded reply, or with LC_STORE_UNKNOWN / LC_STORE_REFUSED (see store.h).
 * Returns -1 when nothing was sent (Redis down, out of memory, args->err):
 * the callback never runs. The backend copies what it keeps of the call:
 * args may be freed when this returns.
 */
int lc__store_send(lc_store_t *s, const lc__call_t *c);

#endif
