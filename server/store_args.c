/*
 * The argument builder of store calls (store_args.h): items copied into one
 * buffer, inline storage first, doubling when a call needs more.
 */
#include "store_args.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lc__args_init(lc__args_t *a) {
    memset(a, 0, offsetof(lc__args_t, items0));
    a->items = a->items0;
    a->cap = sizeof(a->items0) / sizeof(a->items0[0]);
    a->buf = a->buf0;
    a->size = sizeof(a->buf0);
}

void lc__args_free(lc__args_t *a) {
    if (a->items != a->items0) free(a->items);
    if (a->buf != a->buf0) free(a->buf);
    lc__args_init(a);
}

/* Grows the item array or the buffer (doubling); 0 or -1 (err set). */
static int grow(void **p, void *inline0, size_t *cap, size_t elem, size_t need) {
    size_t ncap = *cap;
    while (ncap < need) ncap *= 2;
    void *np = malloc(ncap * elem);
    if (!np) return -1;
    memcpy(np, *p, *cap * elem);
    if (*p != inline0) free(*p);
    *p = np;
    *cap = ncap;
    return 0;
}

/* Starts an item of up to max bytes; returns where to write them, or NULL. */
static char *item_begin(lc__args_t *a, size_t max) {
    if (a->err) return NULL;
    if ((a->n == a->cap && grow((void **)&a->items, a->items0, &a->cap, sizeof(*a->items), a->n + 1) != 0) ||
        (a->size - a->used < max &&
         grow((void **)&a->buf, a->buf0, &a->size, 1, a->used + max) != 0)) {
        a->err = 1;
        return NULL;
    }
    a->items[a->n] = (lc__arg_t){a->used, 0, 0};
    return a->buf + a->used;
}

static void item_end(lc__args_t *a, size_t n, int is_key) {
    a->items[a->n].n = n;
    a->items[a->n].is_key = is_key;
    a->used += n;
    a->n++;
    a->nkeys += is_key;
}

static void add(lc__args_t *a, const char *p, size_t n, int is_key) {
    char *dst = item_begin(a, n);
    if (!dst) return;
    if (n) memcpy(dst, p, n);
    item_end(a, n, is_key);
}

/* "lc:{ROOM}:" suffix sub */
static void add_room_name(lc__args_t *a, lc_str_t room, const char *suffix, lc_str_t sub, int is_key) {
    size_t sn = strlen(suffix);
    char *dst = item_begin(a, 6 + room.n + sn + sub.n);
    if (!dst) return;
    size_t n = 0;
    memcpy(dst, "lc:{", 4), n += 4;
    if (room.n) memcpy(dst + n, room.p, room.n), n += room.n;
    memcpy(dst + n, "}:", 2), n += 2;
    memcpy(dst + n, suffix, sn), n += sn;
    if (sub.n) memcpy(dst + n, sub.p, sub.n), n += sub.n;
    item_end(a, n, is_key);
}

void lc__args_key(lc__args_t *a, lc_str_t room, const char *suffix, lc_str_t sub) {
    add_room_name(a, room, suffix, sub, 1);
}
void lc__args_gkey(lc__args_t *a, const char *key) { add(a, key, strlen(key), 1); }
void lc__args_rname(lc__args_t *a, lc_str_t room, const char *suffix) {
    add_room_name(a, room, suffix, lc_str("", 0), 0);
}
void lc__args_str(lc__args_t *a, lc_str_t s) { add(a, s.p, s.n, 0); }
void lc__args_cstr(lc__args_t *a, const char *s) { add(a, s ? s : "", s ? strlen(s) : 0, 0); }

void lc__args_int(lc__args_t *a, int64_t v) {
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    add(a, num, (size_t)n, 0);
}

void lc__args_op_head(lc__args_t *a, lc_str_t room, const char *const *keys, size_t n, const char *op) {
    lc__args_init(a);
    for (size_t i = 0; i < n; i++) lc__args_key(a, room, keys[i], lc_str("", 0));
    lc__args_cstr(a, op);
    lc__args_rname(a, room, "");
    lc__args_rname(a, room, "ch");
}
