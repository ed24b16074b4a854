/*
 * lc_checkout: reservations that must be paid in time, a feature
 * (feature.h). A buy in a sale opened with pay_s reserves (buy.lua); the
 * shop confirms the payment over the API (api_shop.c); this feature makes
 * the deadlines hold: every shard with viewers in a room runs the room's
 * sweep (checkout.lua "sweep") once the earliest deadline it knows of has
 * passed, and tells its connections of a buyer that its order was paid or
 * expired, whichever shard made the move.
 *
 * It learns the room's next deadline from the join answer (room_state.due),
 * from the stock messages on the room's channel (stock.due, published with
 * every coalesced count) and from each sweep's answer. Deadlines are Redis's
 * clock: the sweep's answer also says what time Redis has (ts), and the
 * feature keeps the difference to its own.
 */
#ifndef LC_CHECKOUT_H
#define LC_CHECKOUT_H

#include "feature.h"

extern const lc_feature_t lc_checkout_feature;

/* At most this many reservations expire per sweep (the rest: the next). */
#define LC_CHECKOUT_SWEEP_MAX 1000
/* A room with reservations is swept at least this often, whatever it knows. */
#define LC_CHECKOUT_SWEEP_MS 10000

#endif
