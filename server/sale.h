/*
 * lc_sale: flash sales and group-buys, a feature (feature.h). Every
 * decision is a Redis script (buy.lua, commerce.lua); this feature
 * validates requests, rate-limits buyers before Redis, answers the
 * requester, and keeps the room's view of each open sku (stock, teams) to
 * broadcast it coalesced: at most once per tick per sku, only when it
 * changed.
 *
 * Files: sale.c (the feature: the channel, the tick, the welcome),
 * sale_req.c (requests and their answers), sale_view.c (the room's view of
 * its skus).
 */
#ifndef LC_SALE_H
#define LC_SALE_H

#include "feature.h"

extern const lc_feature_t lc_sale_feature;

#endif
