/*
 * Private to the coupon feature: the room's view of its coupons, which the
 * requests (coupon_req.c) and the channel and tick (coupon.c) share. One
 * way: coupon.c -> coupon_req.c -> coupon_view.c.
 */
#ifndef LC_COUPON_VIEW_H
#define LC_COUPON_VIEW_H

#include "list.h"
#include "room.h"

typedef struct cpn {
    lc_list_t link;
    uint8_t n, gone, dirty, pub_busy;
    uint8_t known; /* its counts were heard (a coupon or coupon_left message) */
    char id[65];
    int64_t left, used, left_sent, used_sent;
    int64_t ends; /* Redis's clock */
} cpn_t;

typedef struct coupons {
    lc_list_t list;
    lc_room_t *room;
    int64_t skew;      /* Redis's clock minus the loop's (uv_now): the wall clock, then Redis's */
    uint64_t close_at; /* our clock: not before this, ask to close a window again */
    uint8_t close_busy;
} coupons_t;

/* The room's view (created on demand with create; NULL out of memory, or
 * when there is none and create is 0). */
coupons_t *lc__coupons_of(lc_room_t *r, int create);
/* The coupon's view (created on demand, counts unknown). */
cpn_t *lc__coupon_find(lc_room_t *r, lc_str_t id, int create);
void lc__coupon_drop(cpn_t *k);
/* (Re)starts the view of a coupon from a coupon message: what it says was sent. */
void lc__coupon_start(lc_room_t *r, const lc_msg_t *m);
/* This shard changed the coupon's counts (a claim): publish at the next tick. */
void lc__coupon_dirty(lc_room_t *r, lc_str_t id);

#define LC_COUPON_FEATURE "coupon"

#endif
