/*
 * GET /api/rooms/ROOM/stats: the funnel (PROTOCOL.md "The funnel"), read by
 * stats.lua without taking the reporting lease (that is the shards' own).
 */
#include "api_stats.h"

#include "store.h"

#define UNIQUE_ERROR 0.0081 /* HyperLogLog's standard error, as Redis documents it */

static json_t *point_json(const lc_msg_t *p) {
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "t", (json_int_t)p->t, "viewers", (json_int_t)p->viewers, "orders",
                     (json_int_t)p->orders, "likes", (json_int_t)p->likes, "comments", (json_int_t)p->comments);
}

static json_t *stats_json(const lc_api_req_t *r, const lc_msg_t *st) {
    /* buyers / unique viewers, to 4 decimals (both are counts: never negative) */
    double cvr = st->viewers_unique > 0
                     ? (double)(int64_t)((double)st->buyers / (double)st->viewers_unique * 1e4 + 0.5) / 1e4
                     : 0;
    json_t *o = json_pack("{s:s%,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I}", "room", r->room, r->rn,
                          "viewers_now", (json_int_t)st->viewers_now, "viewers_peak", (json_int_t)st->viewers_peak,
                          "viewers_unique", (json_int_t)st->viewers_unique, "engaged", (json_int_t)st->engaged,
                          "buyers", (json_int_t)st->buyers, "orders", (json_int_t)st->orders, "units",
                          (json_int_t)st->units, "revenue", (json_int_t)st->revenue, "cvr", cvr, "unique_error",
                          UNIQUE_ERROR, "ts", (json_int_t)st->ts);
    json_t *series = o ? json_array() : NULL;
    if (!series || json_object_set_new(o, "series", series) != 0) goto fail;
    for (size_t i = 0; i < st->series.n; i++)
        if (json_array_append_new(series, point_json(&st->series.items[i])) != 0) goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

static void on_stats(void *arg, int rc, const lc_msg_t *reply) {
    lc_http_req_t *q = arg;
    lc_api_req_t *r = lc__api_read_answer(q, rc, reply, LC_MSG_STATS);
    if (r) lc__api_json(r->srv, q, 200, stats_json(r, reply));
}

void lc__api_stats_get(lc_api_req_t *r, lc_http_req_t *q) {
    lc_store_funnel_req_t req = {.room = lc_str(r->room, r->rn), .series = 1};
    if (lc_http_defer(q) != 0 || lc_store_funnel(r->srv->store, &req, on_stats, q) != 0)
        lc__api_fail(r->srv, q, 503);
}
