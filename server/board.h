/*
 * lc_board: the room's leaderboards (likes sent, units bought) and its
 * "people are buying" ticker, a feature (feature.h). Scores are Redis's
 * (likes.lua, buy.lua, commerce.lua and checkout.lua change them in the same
 * step as the likes or the order); board.lua publishes them, each at most
 * once a second per room whichever shard asks. This feature asks once a
 * second while it heard of a change -- a likes total or a stock count on the
 * room's channel -- and for 11 s after the last stock change (the ticker
 * counts the last 10 s), and forwards what is published.
 */
#ifndef LC_BOARD_H
#define LC_BOARD_H

#include "feature.h"

extern const lc_feature_t lc_board_feature;

#endif
