/*
 * lc_coupon: coupon drops (抢券), a feature (feature.h). Every decision is a
 * Redis script (coupon.lua; redeeming is the buy's, buy.lua): this feature
 * validates requests, rate-limits claimers before Redis (the buyers'
 * bucket), answers the requester, and keeps the room's view of each coupon
 * to broadcast its counts coalesced -- at most once per tick per coupon, only
 * when they changed -- like stock. It also ends the claim windows: the first
 * shard with viewers that sees a window over asks coupon.lua to close it,
 * which publishes coupon_gone once.
 *
 * Files: coupon.c (the view, the channel, the tick, the welcome),
 * coupon_req.c (requests and their answers).
 */
#ifndef LC_COUPON_H
#define LC_COUPON_H

#include "feature.h"

extern const lc_feature_t lc_coupon_feature;

#endif
