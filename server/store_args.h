/*
 * The keys and arguments of one store call (store_cmd.c builds them,
 * store_call.c puts them on the wire). Plain bytes: nothing in it is Redis.
 */
#ifndef LC_STORE_ARGS_H
#define LC_STORE_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "lc_proto.h"

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
/* Starts a call of an op script (commerce.lua, checkout.lua, coupon.lua):
 * the room's keys named by keys (n of them, e.g. "sales"), then ARGV op, the
 * room's key prefix and its channel -- the op's own arguments follow. */
void lc__args_op_head(lc__args_t *a, lc_str_t room, const char *const *keys, size_t n, const char *op);
void lc__args_str(lc__args_t *a, lc_str_t s);
void lc__args_cstr(lc__args_t *a, const char *s); /* NULL: "" */
void lc__args_int(lc__args_t *a, int64_t v);

/* Item i's bytes (valid until the builder changes). */
static inline const char *lc__args_at(const lc__args_t *a, size_t i) { return a->buf + a->items[i].off; }

#endif
