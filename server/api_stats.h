/*
 * Private to the publish API: the room's funnel for the shop's dashboards
 * (api_stats.c), called by api.c's routes. See api_reply.h.
 */
#ifndef LC_API_STATS_H
#define LC_API_STATS_H

#include "api_reply.h"

/* GET /api/rooms/ROOM/stats (r filled, authorized). */
void lc__api_stats_get(lc_api_req_t *r, lc_http_req_t *q);

#endif
