/*
 * The funnel (PROTOCOL.md "The funnel"): the room's figures for its
 * streamers and for this shard's metrics. The figures themselves are kept
 * in Redis by the event scripts (funnel.lua); this feature only reads them,
 * every period, for each room with viewers joined here:
 *   - streamers joined here receive them as `stats` (with the last hour),
 *     encoded once per format, within a tick of joining and every period;
 *   - the call takes or keeps the room's reporting lease, and while this
 *     shard holds it the room's figures are in its gauges (srv->m.funnel),
 *     so that the gauges' sum over shards counts every room once.
 */
#ifndef LC_FUNNEL_H
#define LC_FUNNEL_H

#include "feature.h"

#define LC_FUNNEL_PERIOD_MS 5000 /* one call per room per period */
#define LC_FUNNEL_LEASE_MS 15000 /* the reporting lease: three periods */

extern const lc_feature_t lc_funnel_feature;

#endif
