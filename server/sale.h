/*
 * lc_sale: flash sales and group-buys on one shard. Every decision is a
 * Redis script (buy.lua, commerce.lua); this module validates requests,
 * rate-limits buyers before Redis, answers the requester, and keeps the
 * room's view of each open sku (stock, teams) to broadcast it coalesced:
 * at most once per tick per sku, only when it changed.
 */
#ifndef LC_SALE_H
#define LC_SALE_H

#include <stdint.h>

#include "conn.h"
#include "store.h"

typedef struct lc_sales lc_sales_t;

/* A commerce message from a joined connection (sale_open, buy, ...). */
void lc_sale_handle(lc_conn_t *c, const lc_msg_t *m);

/* A commerce message from the room's channel; 1 if it was one. */
int lc_sale_on_bus(lc_room_t *r, const lc_msg_t *m);

/* Once per tick: broadcast changed stock and team counts, publish what
 * this shard changed, dissolve overdue teams. */
void lc_sale_tick(lc_room_t *r, uint64_t now);

/* 1 while this shard still has stock changes to publish. */
int lc_sale_pending(lc_room_t *r);

/* Builds the welcome's `sales` items from a join answer (and refreshes the
 * room's view). items point into res: encode before res goes away, then
 * free(*items). Returns 0, or -1 out of memory. */
int lc_sale_welcome(lc_room_t *r, const lc_store_join_t *res, lc_msg_t **items, size_t *n);

/* Frees the room's sale state (the room is going away). */
void lc_sale_free(lc_sales_t *s);

#endif
