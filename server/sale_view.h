/*
 * Private to the sale feature: the room's view of its skus, which the
 * requests (sale_req.c) and the channel and tick (sale.c) share. One way:
 * sale.c -> sale_req.c -> sale_view.c.
 */
#ifndef LC_SALE_VIEW_H
#define LC_SALE_VIEW_H

#include "list.h"
#include "room.h"

typedef struct sku {
    lc_list_t link;
    uint8_t n, group, open, sold_out_sent, dirty, pub_busy;
    /* Sold out as far as this shard heard (a stock message, a buy's answer):
     * first buys are answered here while that is fresher than
     * LC_SALE_OUT_TRUST_MS, or while one buy (the probe) asks Redis again. */
    uint8_t out, probe;
    char id[65];
    int64_t left, left_sent, teams, waiting, teams_sent, waiting_sent;
    uint64_t out_at;    /* the loop's clock: when out was last heard */
    uint64_t closed_at; /* the loop's clock: a closed sku is kept LC_SALE_CLOSED_KEEP_MS */
} sku_t;

#define LC_SALE_OUT_TRUST_MS 1000    /* how long a heard sell-out answers first buys alone */
#define LC_SALE_CLOSED_KEEP_MS 60000 /* how long buys of a closed sale are answered here */

typedef struct sales {
    lc_list_t skus;
    uint64_t next_expire;
    uint8_t expire_busy;
} sales_t;

/* The room's view (created on demand with create; NULL out of memory, or
 * when there is none and create is 0). */
sales_t *lc__sales_of(lc_room_t *r, int create);
/* The sku (created on demand, open, counters unknown). */
sku_t *lc__sku_find(lc_room_t *r, lc_str_t id, int create);
/* This shard changed the sku's stock: publish the count at the next tick. */
void lc__sku_dirty(lc_room_t *r, lc_str_t id);
/* (Re)starts the view of a sku from a sale or group_sale message (now: the
 * loop's clock). */
void lc__sku_start(sku_t *k, const lc_msg_t *m, uint64_t now);
/* Units left heard (a stock message, a buy's answer): the sold-out mark. */
void lc__sku_heard_left(sku_t *k, int64_t left, uint64_t now);
void lc__sku_remove(sku_t *k);
/* The room is going away (the feature's on_free). */
void lc__sales_free(lc_room_t *r, void *slot);

/* The feature's name: its slot in every room. */
#define LC_SALE_FEATURE "sale"

#endif
