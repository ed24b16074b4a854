/*
 * lc_lottery: lucky bags (福袋) with a draw anyone can verify, a feature
 * (feature.h). The streamer's shard makes the secret seed and its commit;
 * every decision -- opening, entering, the draw -- is lottery.lua's (keyword
 * entries are comment.lua's, in the comment's own step). This feature asks
 * for the draw when the lottery's time is over (any shard with viewers: the
 * script draws once) and tells its connections: the result to everyone,
 * `entered` and `won` to the users concerned.
 */
#ifndef LC_LOTTERY_H
#define LC_LOTTERY_H

#include "feature.h"

extern const lc_feature_t lc_lottery_feature;

#endif
